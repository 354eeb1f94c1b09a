"""What Airflow's providers manager reads: the `signoff` connection type and its hook."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    """Provider metadata (the `apache_airflow_provider` entry point)."""
    return {
        "package-name": "signoff",
        "name": "signoff",
        "description": "Human review of AI decisions as a deferrable DAG step.",
        "versions": ["0.1.0"],
        "connection-types": [
            {
                "hook-class-name": "signoff.integrations.airflow.hooks.SignoffHook",
                "connection-type": "signoff",
            }
        ],
    }
