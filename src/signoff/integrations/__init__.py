"""Orchestrator integrations (Airflow, Prefect, Temporal) built on signoff.client only."""
