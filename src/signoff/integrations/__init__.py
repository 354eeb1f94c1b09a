"""Orchestrator integrations (Airflow, Prefect, Temporal), each on `signoff.client` only.

Each lives behind its own extra: `pip install 'signoff[airflow]'`, `[prefect]`, `[temporal]`.
"""
