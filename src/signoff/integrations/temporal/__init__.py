"""signoff reviews as steps of Temporal workflows: submit in an activity, wait for a signal.

`activities.SignoffActivities` holds the activities (submit, read, and a heartbeating
poll as the fallback); `workflow.request_review` / `workflow.await_decision` are the
workflow side, waiting for the `signoff_decision` signal that `bridge` sends when
signoff's signed decision webhook arrives. Nothing here imports the client, so the
workflow modules stay safe in Temporal's sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SIGNAL = "signoff_decision"
EXTERNAL_ID_PREFIX = "temporal:"
SETTLED = frozenset({"approved", "rejected", "cancelled", "archived"})
ROUTED = SETTLED | {"in_review"}

# Activity names, so that workflows call them without importing the activities module.
SUBMIT = "signoff_submit_for_review"
GET_ITEM = "signoff_get_item"
WAIT = "signoff_wait_for_decision"


@dataclass
class ReviewRequest:
    """What `submit_for_review` submits: an item for `workflow` with this content."""

    workflow: str
    content: dict[str, Any]
    metadata: dict[str, Any] | None = None
    settle_seconds: float = 10.0  # how long to wait for the routing before returning
