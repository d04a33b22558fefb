"""Deferrable triggers: asynchronous waits that run in Airflow's triggerer, holding no worker slot."""

from __future__ import annotations
