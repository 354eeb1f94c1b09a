"""Request and response bodies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemCreate(_Body):
    content: dict[str, Any] = Field(description="The document or record to classify")
    external_id: str | None = Field(default=None, max_length=255)
    metadata: dict[str, Any] | None = None
    idempotency_key: str | None = Field(default=None, max_length=255)


class ItemBatchCreate(_Body):
    items: list[ItemCreate] = Field(min_length=1)


class ItemCancel(_Body):
    reason: str | None = Field(default=None, max_length=2000)


class ClaimRequest(_Body):
    workflow: str | None = None


class DecisionCreate(_Body):
    outcome: str = Field(min_length=1, max_length=64)
    labels: list[str] | None = Field(default=None, max_length=1)
    label: str | None = None
    entities: list[dict[str, Any]] | None = None
    comment: str | None = Field(default=None, max_length=10_000)
    time_on_task_ms: int | None = Field(default=None, ge=0)
