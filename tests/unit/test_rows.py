"""The typed rows storage returns stay equal to the tables they are read from."""

from __future__ import annotations

import typing
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from signoff.storage import rows
from signoff.storage import tables as t
from signoff.storage.types import UTCDateTime

ROWS = {
    "orgs": rows.OrgRow,
    "workflows": rows.WorkflowRow,
    "workflow_versions": rows.WorkflowVersionRow,
    "users": rows.UserRow,
    "api_keys": rows.ApiKeyRow,
    "items": rows.ItemRow,
    "review_tasks": rows.TaskRow,
    "reviewer_groups": rows.GroupRow,
}


def _python_type(column: sa.Column[Any]) -> Any:
    if isinstance(column.type, sa.JSON):
        return Any
    base = datetime if isinstance(column.type, UTCDateTime) else column.type.python_type
    return base | None if column.nullable else base


@pytest.mark.parametrize("table", sorted(ROWS))
def test_each_row_type_has_every_column_of_its_table_with_its_type(table: str) -> None:
    hints = typing.get_type_hints(ROWS[table])
    columns = {c.name: _python_type(c) for c in t.metadata.tables[table].columns}
    assert hints == columns
