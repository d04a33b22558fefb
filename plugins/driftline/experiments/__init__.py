"""A/B experiments of model versions on batch predictions (Airflow-free)."""
