"""`python -m driftline.training`: see driftline.training.entrypoint."""

from __future__ import annotations

from driftline.training.entrypoint import main

raise SystemExit(main())
