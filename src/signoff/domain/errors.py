"""The error hierarchy: every failure signoff reports is a SignoffError subclass.

Each class's docstring is its default message; `code` is the stable machine name
the API returns as `{"error": code, "detail": ...}`.
"""

from __future__ import annotations

from typing import Any


class SignoffError(Exception):
    """Something went wrong."""

    code = "error"

    def __init__(self, detail: str | None = None, **context: Any) -> None:
        self.detail = detail or (self.__doc__ or self.code).strip()
        self.context = context
        super().__init__(self.detail)


class NotFound(SignoffError):
    """Not found."""

    code = "not_found"


class ItemNotFound(NotFound):
    """Item not found."""

    code = "item_not_found"


class WorkflowNotFound(NotFound):
    """Workflow not found."""

    code = "workflow_not_found"


class TaskNotFound(NotFound):
    """Review task not found."""

    code = "task_not_found"


class UserNotFound(NotFound):
    """User not found."""

    code = "user_not_found"


class InvalidTransition(SignoffError):
    """That state change is not allowed."""

    code = "invalid_transition"


class StateConflict(SignoffError):
    """The item changed while this request was in flight; reload and try again."""

    code = "state_conflict"


class TaskAlreadyDecided(SignoffError):
    """This review task has already been decided."""

    code = "task_already_decided"


class TaskNotAssigned(SignoffError):
    """This review task is not assigned to you."""

    code = "task_not_assigned"


class TaskClaimed(TaskNotAssigned):
    """Another reviewer holds this review task."""

    code = "task_claimed"


class ItemAlreadyReviewed(SignoffError):
    """You already have a review task of this item; its other reviews need other people."""

    code = "item_already_reviewed"


class LeaseLost(SignoffError):
    """The worker no longer holds the lease on this item."""

    code = "lease_lost"


class InvalidWorkflow(SignoffError):
    """The workflow definition is invalid."""

    code = "invalid_workflow"


class ValidationFailed(SignoffError):
    """The request is invalid."""

    code = "validation_error"


class IdempotencyConflict(SignoffError):
    """This Idempotency-Key was already used with a different request body."""

    code = "idempotency_key_reused"


class Unauthorized(SignoffError):
    """A valid API key or session is required."""

    code = "unauthorized"


class Forbidden(SignoffError):
    """Your role does not allow this."""

    code = "forbidden"


class PayloadTooLarge(SignoffError):
    """The request body is larger than the configured limit."""

    code = "payload_too_large"


class ProviderError(SignoffError):
    """The AI provider failed."""

    code = "provider_error"

    def __init__(
        self, detail: str | None = None, *, retryable: bool = True, retry_after: float | None = None
    ) -> None:
        super().__init__(detail)
        self.retryable = retryable
        self.retry_after = retry_after


class CircuitOpen(ProviderError):
    """The AI provider's circuit breaker is open; calls fail at once until it cools down."""

    code = "circuit_open"


class SchemaOutdated(SignoffError):
    """The database schema is not at the latest version; run `signoff db upgrade`."""

    code = "schema_outdated"


class ConfigError(SignoffError):
    """The configuration is invalid."""

    code = "config_error"


class NotEnoughData(SignoffError):
    """There are not enough labelled examples to do this yet."""

    code = "not_enough_data"


class LinkRefused(SignoffError):
    """This link does not work: it was used, it expired, or it is not a link signoff made."""

    code = "link_refused"

    def __init__(self, detail: str | None = None, *, reason: str = "invalid") -> None:
        super().__init__(detail, reason=reason)
        self.reason = reason


class SignInRequired(SignoffError):
    """Sign in first to use this link."""

    code = "sign_in_required"


class InvalidCheckpoint(SignoffError):
    """The audit checkpoint is not valid: altered, malformed or signed with another key."""

    code = "invalid_checkpoint"


class WorkflowPaused(SignoffError):
    """An admin paused this workflow: it accepts no items until it is resumed."""

    code = "workflow_paused"


class RateLimited(SignoffError):
    """Too many requests: wait as `Retry-After` says, then try again."""

    code = "rate_limited"


class QuotaExceeded(SignoffError):
    """The org has used up a limit (items per day, or open review tasks)."""

    code = "quota_exceeded"
