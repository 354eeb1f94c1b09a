"""Airflow 3 integration: a signoff review as one deferrable step of a DAG.

`pip install 'signoff[airflow]'`, then
`from signoff.integrations.airflow import SignoffReviewOperator, SignoffBranchOperator`.
"""

from signoff.integrations.airflow.hooks import SignoffHook
from signoff.integrations.airflow.operators import (
    SignoffBranchOperator,
    SignoffReviewOperator,
    SignoffReviewTimeout,
    idempotency_key,
)
from signoff.integrations.airflow.triggers import SignoffDecisionTrigger

__all__ = [
    "SignoffBranchOperator",
    "SignoffDecisionTrigger",
    "SignoffHook",
    "SignoffReviewOperator",
    "SignoffReviewTimeout",
    "idempotency_key",
]
