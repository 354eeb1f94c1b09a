"""The document-review flow as an Airflow 3 DAG with signoff as its review step.

signoff's workflow does the AI step and the routing (auto or a person, by its policy):
the DAG submits, waits without holding a worker slot, and branches on the outcome.
Needs `pip install 'signoff[airflow]'` and a `signoff_default` connection, e.g.
`AIRFLOW_CONN_SIGNOFF_DEFAULT='{"conn_type": "signoff", "host": "http://127.0.0.1:8000",
"password": "sk_..."}'`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, task

from signoff.integrations.airflow import SignoffBranchOperator, SignoffReviewOperator

with DAG(
    dag_id="hitl_document_review",
    schedule=None,
    catchup=False,
    # Renders `{{ params.document }}` as the dict itself, not its text.
    render_template_as_native_obj=True,
    params={"document": {"text": "Invoice #1024 from ACME, total 120 EUR"}},
    tags=["signoff"],
) as dag:
    # Submits the document; signoff's AI step and routing policy decide whether its
    # answer stands or a reviewer must look. Waits (deferred) for the decision.
    ai_process = SignoffReviewOperator(
        task_id="ai_process",
        workflow="docs",
        content="{{ params.document }}",
        metadata={"dag_run": "{{ run_id }}"},
        # As with Airflow's HITL operators: past this, the default outcome applies.
        execution_timeout=timedelta(hours=24),
        defaults="rejected",
    )

    branch_decision = SignoffBranchOperator(
        task_id="branch_decision",
        review_task_id="ai_process",
        branches={"approved": "publish", "rejected": "notify_author"},
    )

    @task
    def publish(item: dict[str, Any]) -> str:
        return f"published item {item['id']} ({item['decision']['decided_by']})"

    @task
    def notify_author(item: dict[str, Any]) -> str:
        return f"told the author: item {item['id']} was {item['outcome']}"

    @task(trigger_rule="none_failed_min_one_success")
    def record(item: dict[str, Any]) -> dict[str, Any]:
        return {"item_id": item["id"], "outcome": item["outcome"], "timed_out": item["timed_out"]}

    published = publish(ai_process.output)
    notified = notify_author(ai_process.output)
    ai_process >> branch_decision >> [published, notified]
    [published, notified] >> record(ai_process.output)
