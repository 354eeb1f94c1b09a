"""decision counters in shards

Revision ID: 0013_sharded_counters
Revises: 0010_consensus
Create Date: 2026-12-04 02:50:00

Every human decision adds to its workflow's counters in the decision's transaction:
the dashboard's `decision_rollups` and `decision_time_rollups` (one row per workflow,
day and route) and the decision counter the thresholds are revalidated against. One
row each made concurrent decisions of a workflow commit one at a time, each waiting
for the row lock of the one before. Each counter is now split into SHARDS rows (a
decision writes the shard of its item id; readers add them up): `shard` joins the
rollups' keys, and the counter moves from `learning_state.decisions` to
`decision_counts` (workflow, shard). Existing counts land in shard 0.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_sharded_counters"
down_revision = "0010_consensus"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ROLLUP_KEYS = {
    "decision_rollups": ["workflow_id", "day", "route", "qa_sample"],
    "decision_time_rollups": ["workflow_id", "day", "route", "bucket"],
}


def upgrade() -> None:
    for table, keys in _ROLLUP_KEYS.items():
        with op.batch_alter_table(table, recreate="auto") as batch:
            batch.add_column(
                sa.Column("shard", sa.SmallInteger(), server_default="0", nullable=False)
            )
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", [*keys, "shard"])
    op.create_table(
        "decision_counts",
        sa.Column("workflow_id", _BIG_ID, nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["workflows.id"], name=op.f("fk_decision_counts_workflow_id_workflows")
        ),
        sa.PrimaryKeyConstraint("workflow_id", "shard", name=op.f("pk_decision_counts")),
    )
    op.execute(
        "INSERT INTO decision_counts (workflow_id, shard, n)"
        " SELECT workflow_id, 0, decisions FROM learning_state WHERE decisions > 0"
    )
    with op.batch_alter_table("learning_state") as batch:
        batch.drop_column("decisions")


def downgrade() -> None:
    with op.batch_alter_table("learning_state") as batch:
        batch.add_column(
            sa.Column("decisions", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.execute(
        "UPDATE learning_state SET decisions = coalesce((SELECT sum(n) FROM decision_counts"
        " WHERE decision_counts.workflow_id = learning_state.workflow_id), 0)"
    )
    op.execute(
        "INSERT INTO learning_state (workflow_id, decisions)"
        " SELECT workflow_id, sum(n) FROM decision_counts WHERE workflow_id NOT IN"
        " (SELECT workflow_id FROM learning_state) GROUP BY workflow_id"
    )
    op.drop_table("decision_counts")
    for table, keys in _ROLLUP_KEYS.items():
        columns = ", ".join(keys)
        totals = ", ".join(
            ["sum(n) AS n", *(["sum(overridden) AS overridden"] if "qa_sample" in keys else [])]
        )
        op.execute(
            f"CREATE TABLE {table}_merged AS SELECT {columns}, {totals}"
            f" FROM {table} GROUP BY {columns}"
        )
        op.execute(f"DELETE FROM {table}")
        with op.batch_alter_table(table, recreate="auto") as batch:
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", keys)
            batch.drop_column("shard")
        value_columns = "n, overridden" if "qa_sample" in keys else "n"
        op.execute(
            f"INSERT INTO {table} ({columns}, {value_columns})"
            f" SELECT {columns}, {value_columns} FROM {table}_merged"
        )
        op.drop_table(f"{table}_merged")
