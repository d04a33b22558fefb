"""Cost reporting and ROI: what every task, run and model costs, budgets, and the model's value.

Airflow-free: `pricing` turns measured durations and resources into ledger entries, `ledger` keeps
them (SQLite locally, Postgres in production), `budget` alerts, `roi` measures value against the
`no_model` holdout, `opencost` reads a cluster's allocation, `report` renders tables and HTML.
"""

from __future__ import annotations
