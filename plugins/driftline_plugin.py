"""The Driftline Airflow plugin: the Driftline page in the Airflow UI (nothing else lives here).

The API server mounts the page's app at `/driftline` (`driftline.ui.asgi`: built on the first
request, so other Airflow processes that import plugins pay nothing) and the external view puts
"Driftline" in the UI navigation, showing that app inside the UI at `/plugin/driftline`.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from driftline.ui.asgi import URL_PREFIX, app


class DriftlinePlugin(AirflowPlugin):
    name = "driftline"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Driftline"}]
    external_views = [
        {
            "name": "Driftline",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "driftline",
        }
    ]
