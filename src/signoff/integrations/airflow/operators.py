"""SignoffReviewOperator (submit, then defer until decided) and SignoffBranchOperator."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from airflow.exceptions import AirflowException
from airflow.providers.standard.operators.branch import BaseBranchOperator
from airflow.sdk import BaseOperator

from signoff.client import models
from signoff.integrations.airflow import hooks, triggers

#: Longest idempotency key the server accepts.
MAX_KEY_LENGTH = 255
#: How long `execute` waits in the worker for the AI step to route the item: an item
#: decided automatically returns without deferring, one sent to people defers at once.
ROUTE_WAIT_SECONDS = 10.0


class SignoffReviewTimeout(AirflowException):
    """No decision came before `execution_timeout`, and the operator has no `defaults`."""


def idempotency_key(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """One key per task instance, so a retried task finds its item instead of adding one."""
    key = f"airflow:{dag_id}:{run_id}:{task_id}:{map_index}"
    if len(key) <= MAX_KEY_LENGTH:
        return key
    return "airflow:sha256:" + hashlib.sha256(key.encode()).hexdigest()


def outcome_of(item: dict[str, Any]) -> str | None:
    """The decision's outcome, or `cancelled` for an item withdrawn before a decision."""
    decision = item.get("decision")
    if decision and decision.get("outcome"):
        return str(decision["outcome"])
    return "cancelled" if item.get("state") == "cancelled" else None


class SignoffReviewOperator(BaseOperator):
    """Submit an item to a signoff workflow and return the decided item as XCom.

    Items the workflow's routing decides automatically return at once; the others defer
    on `SignoffDecisionTrigger`, holding no worker slot while a person decides. As with
    Airflow's HITL operators, `execution_timeout` bounds the wait: then `defaults` (an
    outcome) is returned, and the item is cancelled in signoff, or without `defaults` the
    task fails with `SignoffReviewTimeout`.
    """

    template_fields = ("workflow", "content", "metadata", "external_id")
    template_fields_renderers = {"content": "json", "metadata": "json"}
    ui_color = "#f3e8ff"

    def __init__(
        self,
        *,
        workflow: str,
        content: dict[str, Any] | str,
        metadata: dict[str, Any] | None = None,
        external_id: str | None = None,
        defaults: str | None = None,
        cancel_on_timeout: bool = True,
        signoff_conn_id: str = hooks.DEFAULT_CONN_ID,
        poll_interval: float = 30.0,
        route_wait: float = ROUTE_WAIT_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if defaults is not None and (not isinstance(defaults, str) or not defaults):
            raise ValueError("defaults: one outcome name, e.g. 'rejected'")
        self.workflow = workflow
        self.content = content
        self.metadata = metadata
        self.external_id = external_id
        self.defaults = defaults
        self.cancel_on_timeout = cancel_on_timeout
        self.signoff_conn_id = signoff_conn_id
        self.poll_interval = poll_interval
        self.route_wait = route_wait

    def execute(self, context: Any) -> dict[str, Any] | None:
        ti = context["ti"]
        key = idempotency_key(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1))
        deadline = None
        if self.execution_timeout:
            deadline = datetime.now(UTC) + self.execution_timeout
        if not isinstance(self.content, dict):
            raise ValueError("content: must render to a JSON object (a dict)")
        hook = hooks.SignoffHook(self.signoff_conn_id)
        with hook.get_client() as client:
            item = client.submit(
                self.workflow,
                self.content,
                external_id=self.external_id,
                metadata=self.metadata,
                idempotency_key=key,
            )
            self.log.info("action=review_submitted item_id=%s workflow=%s", item.id, self.workflow)
            routed = self._await_route(client, item.id, deadline)
        if routed.settled:
            return self._result(routed.model_dump(mode="json"), timed_out=False)
        self.log.info("action=review_deferred item_id=%s", item.id)
        self.defer(
            trigger=triggers.SignoffDecisionTrigger(
                item_id=item.id,
                signoff_conn_id=self.signoff_conn_id,
                deadline=deadline.isoformat() if deadline else None,
                poll_interval=self.poll_interval,
            ),
            method_name="execute_complete",
        )
        return None  # not reached: defer raises

    def _await_route(
        self, client: Any, item_id: int, deadline: datetime | None
    ) -> models.ItemPublic:
        """Wait briefly while the AI step runs: until settled, sent to people, or `route_wait`."""
        budget = self.route_wait
        if deadline is not None:
            budget = min(budget, (deadline - datetime.now(UTC)).total_seconds() / 2)
        until = time.monotonic() + max(0.0, budget)
        item: models.ItemPublic = client.get(item_id)
        while not item.settled and item.state != "in_review":
            remaining = until - time.monotonic()
            if remaining <= 0:
                break
            item = client.wait(item_id, timeout=min(0.5, remaining))
        return item

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        status = event.get("status")
        if status == "decided":
            return self._result(event["item"], timed_out=False)
        if status == "timeout":
            item = event["item"]
            if self.defaults is None:
                raise SignoffReviewTimeout(
                    f"item {item['id']} was not decided within {self.execution_timeout}"
                )
            if self.cancel_on_timeout:
                with hooks.SignoffHook(self.signoff_conn_id).get_client() as client:
                    cancelled = client.cancel(
                        item["id"], reason=f"Airflow timed out; default {self.defaults!r} applied"
                    )
                item = cancelled.model_dump(mode="json")
            self.log.info(
                "action=review_timed_out item_id=%s default=%s", item["id"], self.defaults
            )
            return self._result(item, timed_out=True, outcome=self.defaults)
        raise AirflowException(f"signoff review failed: {event.get('error')}")

    def _result(
        self, item: dict[str, Any], *, timed_out: bool, outcome: str | None = None
    ) -> dict[str, Any]:
        """The item as `GET /api/v1/items/{id}` returns it, with `outcome` and `timed_out`."""
        body = {k: v for k, v in item.items() if k != "timed_out"}
        return {**body, "outcome": outcome or outcome_of(body), "timed_out": timed_out}


class SignoffBranchOperator(BaseBranchOperator):
    """Follow the branch named for the review's outcome: `{"approved": "publish", ...}`."""

    template_fields = ("review_task_id",)

    def __init__(
        self,
        *,
        review_task_id: str,
        branches: dict[str, str | list[str]],
        default_branch: str | list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not branches:
            raise ValueError("branches: map at least one outcome to a task id")
        self.review_task_id = review_task_id
        self.branches = branches
        self.default_branch = default_branch

    def choose_branch(self, context: Any) -> str | Iterable[str]:
        result = context["ti"].xcom_pull(task_ids=self.review_task_id)
        if not isinstance(result, dict):
            raise AirflowException(f"task {self.review_task_id!r} returned no signoff item")
        outcome = result.get("outcome") or outcome_of(result)
        branch = self.branches.get(outcome or "", self.default_branch)
        if branch is None:
            raise AirflowException(
                f"no branch for outcome {outcome!r}; known: {sorted(self.branches)}"
            )
        self.log.info("action=review_branch outcome=%s branch=%s", outcome, branch)
        return branch
