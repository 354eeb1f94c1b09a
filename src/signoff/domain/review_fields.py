"""Typed entry fields a reviewer fills in with a decision (like Airflow HITL `params`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Literal

from pydantic import Field, model_validator

from signoff.domain import errors
from signoff.domain.spec_base import MAX_LIST, Short, Strict

#: Field names: identifiers, so they are safe as form-input names and JSON keys.
FIELD_NAME = r"^[a-z][a-z0-9_]{0,63}$"
MAX_FIELDS = 50
MAX_NUMBER = 1e15
#: Longest text value when the field sets no `max`.
MAX_TEXT_VALUE = 10_000


class ReviewField(Strict):
    """One input on the review form: its value is validated on decide and kept with it."""

    name: str = Field(
        pattern=FIELD_NAME, max_length=64, description="Key of the value in the decision"
    )
    type: Literal["text", "number", "choice", "date"] = Field(
        description="text, number, choice or date (YYYY-MM-DD)"
    )
    label: str | None = Field(default=None, max_length=100, description="Shown on the form")
    required: bool = Field(default=False, description="A decision without a value is refused")
    choices: list[Short] | None = Field(
        default=None, max_length=MAX_LIST, description="The allowed values of a choice field"
    )
    min: float | None = Field(
        default=None,
        ge=-MAX_NUMBER,
        le=MAX_NUMBER,
        description="number: smallest value; text: fewest characters",
    )
    max: float | None = Field(
        default=None,
        ge=-MAX_NUMBER,
        le=MAX_NUMBER,
        description="number: largest value; text: most characters",
    )

    @model_validator(mode="after")
    def _consistent(self) -> ReviewField:
        if self.type == "choice":
            if not self.choices:
                raise ValueError(f"field {self.name!r}: a choice field needs choices")
            if len(set(self.choices)) != len(self.choices):
                raise ValueError(f"field {self.name!r}: choices must be unique")
        elif self.choices is not None:
            raise ValueError(f"field {self.name!r}: only a choice field has choices")
        if self.type in ("choice", "date") and (self.min is not None or self.max is not None):
            raise ValueError(f"field {self.name!r}: min and max apply to number and text fields")
        if self.type == "text" and any(
            b is not None and (b < 0 or b > MAX_TEXT_VALUE or b != int(b))
            for b in (self.min, self.max)
        ):
            raise ValueError(
                f"field {self.name!r}: a text field's min and max are whole lengths "
                f"from 0 to {MAX_TEXT_VALUE}"
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"field {self.name!r}: min is above max")
        return self

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()


def check_unique(fields: Sequence[ReviewField]) -> None:
    """ValueError when two fields share a name."""
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise ValueError("review.fields names must be unique")


def _refuse(name: str, message: str) -> errors.ValidationFailed:
    return errors.ValidationFailed(f"fields.{name}: {message}", field=f"fields.{name}")


def _number(spec: ReviewField, value: Any) -> float | int:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _refuse(spec.name, "must be a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _refuse(spec.name, "must be a number")
    if not math.isfinite(value) or abs(value) > MAX_NUMBER:
        raise _refuse(spec.name, f"must be a finite number within ±{MAX_NUMBER:g}")
    if spec.min is not None and value < spec.min:
        raise _refuse(spec.name, f"must be at least {spec.min:g}")
    if spec.max is not None and value > spec.max:
        raise _refuse(spec.name, f"must be at most {spec.max:g}")
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else float(value)


def _text(spec: ReviewField, value: Any) -> str:
    if not isinstance(value, str):
        raise _refuse(spec.name, "must be text")
    longest = int(spec.max) if spec.max is not None else MAX_TEXT_VALUE
    if len(value) > longest:
        raise _refuse(spec.name, f"must be at most {longest} characters")
    if spec.min is not None and len(value) < spec.min:
        raise _refuse(spec.name, f"must be at least {int(spec.min)} characters")
    return value


def _one_value(spec: ReviewField, value: Any) -> Any:
    if spec.type == "number":
        return _number(spec, value)
    if spec.type == "text":
        return _text(spec, value)
    if spec.type == "choice":
        if not isinstance(value, str) or value not in (spec.choices or []):
            raise _refuse(spec.name, f"must be one of {spec.choices}")
        return value
    if not isinstance(value, str) or len(value) != 10:
        raise _refuse(spec.name, "must be a date written YYYY-MM-DD")
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise _refuse(spec.name, "must be a date written YYYY-MM-DD") from None


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def validate_values(fields: Sequence[ReviewField], values: Mapping[str, Any]) -> dict[str, Any]:
    """The decision's field values, typed; ValidationFailed names the first field at fault."""
    known = {f.name: f for f in fields}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise errors.ValidationFailed(
            f"fields: unknown field {unknown[0][:64]!r}; this workflow has {sorted(known)}",
            field="fields",
        )
    out: dict[str, Any] = {}
    for spec in fields:
        value = values.get(spec.name)
        if _empty(value):
            if spec.required:
                raise _refuse(spec.name, "is required")
            continue
        out[spec.name] = _one_value(spec, value)
    return out
