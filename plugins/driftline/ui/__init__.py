"""The Driftline page in the Airflow UI: data access (`data`, `sources`), HTML (`render`, `svg`), the app.

`driftline_plugin.py` registers `driftline.ui.asgi.app` (mounted by Airflow's API server at
`/driftline`) and an external view that puts "Driftline" in the UI navigation. Nothing heavy is
imported until the first request: the API server, the scheduler and every task process import
plugins.
"""

from __future__ import annotations
