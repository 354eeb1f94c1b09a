"""Every table, as SQLAlchemy Core, with a constraint naming convention."""

from __future__ import annotations

import sqlalchemy as sa

from signoff.storage.types import JSONType, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY, so BigInteger is Integer there.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: A review task still waiting for a decision (TaskStatus open or assigned), as SQL for
#: partial indexes; queries that should use them repeat exactly this condition.
PENDING_SQL = "status IN ('open', 'assigned')"


def _id() -> sa.Column[int]:
    return sa.Column("id", BigId, primary_key=True, autoincrement=True)


# Organisations (0009): tenants that own workflows (and through them items and tasks),
# users, API keys and reviewer groups. A user or key without an org is the platform's.
orgs = sa.Table(
    "orgs",
    metadata,
    _id(),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(255), nullable=True),
    # Per-org limits; None: the settings' default.
    sa.Column("items_per_day", sa.Integer, nullable=True),
    sa.Column("open_tasks", sa.Integer, nullable=True),
    sa.Column("requests_per_minute", sa.Integer, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

workflows = sa.Table(
    "workflows",
    metadata,
    _id(),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("org_id", BigId, sa.ForeignKey("orgs.id"), nullable=False, index=True),
    sa.Column("current_version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Stop switch (0007): set while an admin has paused the workflow (mode None: running).
    sa.Column("paused_mode", sa.String(16), nullable=True),
    sa.Column("paused_reason", sa.Text, nullable=True),
    sa.Column("paused_by", sa.String(255), nullable=True),
    sa.Column("paused_at", UTCDateTime, nullable=True),
)

workflow_versions = sa.Table(
    "workflow_versions",
    metadata,
    _id(),
    sa.Column("workflow_id", BigId, sa.ForeignKey("workflows.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("spec", JSONType, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(255), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workflow_id", "version", name="uq_workflow_versions_workflow_version"),
)

users = sa.Table(
    "users",
    metadata,
    _id(),
    sa.Column("email", sa.String(255), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("display_name", sa.String(255), nullable=True),
    sa.Column("password_hash", sa.String(255), nullable=True),
    sa.Column("workflows", JSONType, nullable=True),  # None: every workflow
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    # None: a platform user (sees every org); else the user works in that org only.
    sa.Column("org_id", BigId, sa.ForeignKey("orgs.id"), nullable=True, index=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    _id(),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("user_id", BigId, sa.ForeignKey("users.id"), nullable=True),
    sa.Column("prefix", sa.String(32), nullable=False, unique=True),
    sa.Column("key_hash", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Column("last_used_at", UTCDateTime, nullable=True),
    sa.Column("expires_at", UTCDateTime, nullable=True),  # None: never
    # The key this one replaced (`signoff keys rotate`).
    sa.Column("rotated_from", BigId, nullable=True),
    # Service keys only (None on personal keys, which act with their user's role).
    sa.Column("scopes", JSONType, nullable=True),
    sa.Column("workflows", JSONType, nullable=True),  # None: every workflow
    # None: a platform key; personal keys carry their user's org.
    sa.Column("org_id", BigId, sa.ForeignKey("orgs.id"), nullable=True, index=True),
)

# Web UI sessions: the cookie carries a random id whose hash is here, so signing out,
# a new password, a role change or deactivation ends the session on the server.
user_sessions = sa.Table(
    "user_sessions",
    metadata,
    _id(),
    sa.Column("user_id", BigId, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Index("ix_user_sessions_user_id", "user_id"),
)

items = sa.Table(
    "items",
    metadata,
    _id(),
    sa.Column("workflow_id", BigId, sa.ForeignKey("workflows.id"), nullable=False),
    sa.Column("workflow_version", sa.Integer, nullable=False),
    sa.Column("external_id", sa.String(255), nullable=True),
    sa.Column("content", JSONType, nullable=False),
    sa.Column("metadata", JSONType, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("request_hash", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    # The AI step's answer, kept in columns the metrics and calibration read.
    sa.Column("ai_label", sa.String(255), nullable=True),
    sa.Column("confidence", sa.Float, nullable=True),
    sa.Column("prediction", JSONType, nullable=True),
    sa.Column("route", sa.String(8), nullable=True),
    sa.Column("route_reasons", JSONType, nullable=True),
    sa.Column("threshold", sa.Float, nullable=True),
    sa.Column("qa_sample", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("routed_at", UTCDateTime, nullable=True),
    # The decision.
    sa.Column("outcome", sa.String(64), nullable=True),
    sa.Column("final_label", sa.String(255), nullable=True),
    sa.Column("final_entities", JSONType, nullable=True),
    sa.Column("decided_by", sa.String(255), nullable=True),
    sa.Column("decided_at", UTCDateTime, nullable=True),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("override", sa.Boolean, nullable=True),
    # Insight (0007): every label of a multi-label decision, and the review fields' values.
    sa.Column("final_labels", JSONType, nullable=True),
    sa.Column("final_fields", JSONType, nullable=True),
    # Head of this item's hash chain; guarded updates compare audit_seq.
    sa.Column("audit_seq", sa.Integer, nullable=False, server_default="0"),
    sa.Column("audit_hash", sa.String(64), nullable=False, server_default=""),
    # Compliance (0007): sha256 of the canonical content JSON (kept when the content is
    # purged), when retention purged the payload, and a legal hold that stops the purge.
    sa.Column("content_hash", sa.String(64), nullable=True),
    sa.Column("content_purged_at", UTCDateTime, nullable=True),
    sa.Column("legal_hold_at", UTCDateTime, nullable=True),
    sa.Column("legal_hold_by", sa.String(255), nullable=True),
    # Oversight (0011): reviewed without the AI's suggestion; a gold item's known label
    # (None: an application's item).
    sa.Column("blind", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("gold_label", sa.String(255), nullable=True),
    sa.UniqueConstraint("workflow_id", "idempotency_key", name="uq_items_workflow_idempotency"),
    sa.Index("ix_items_state_lease", "state", "lease_expires_at"),
    sa.Index("ix_items_workflow_state", "workflow_id", "state"),
    # Metrics (0002, replacing 0001's (workflow_id, decided_at)): covering indexes, so
    # windowed aggregates are index-only range scans per workflow.
    sa.Index(
        "ix_items_workflow_decided_cover",
        "workflow_id",
        "decided_at",
        "route",
        "qa_sample",
        "override",
        "created_at",
    ),
    sa.Index("ix_items_workflow_routed_cover", "workflow_id", "routed_at", "route", "confidence"),
    sa.Index("ix_items_created_at", "created_at"),
    sa.Index("ix_items_external_id", "external_id"),
)

review_tasks = sa.Table(
    "review_tasks",
    metadata,
    _id(),
    sa.Column("item_id", BigId, sa.ForeignKey("items.id"), nullable=False),
    sa.Column("workflow_id", BigId, sa.ForeignKey("workflows.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("assignee_id", BigId, sa.ForeignKey("users.id"), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("assigned_at", UTCDateTime, nullable=True),
    sa.Column("due_at", UTCDateTime, nullable=True),
    sa.Column("decided_at", UTCDateTime, nullable=True),
    sa.Column("outcome", sa.String(64), nullable=True),
    sa.Column("labels", JSONType, nullable=True),
    sa.Column("entities", JSONType, nullable=True),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("time_on_task_ms", sa.Integer, nullable=True),
    sa.Column("escalated", sa.Boolean, nullable=False, server_default=sa.false()),
    # Review operations (0004): the group the task is for, the SLA timers that fired, and
    # when a reviewer first and last touched it (time to first touch; claim timeout).
    sa.Column("group_name", sa.String(64), nullable=True),
    sa.Column("reminded_at", UTCDateTime, nullable=True),
    sa.Column("escalated_at", UTCDateTime, nullable=True),
    sa.Column("timed_out_at", UTCDateTime, nullable=True),
    sa.Column("first_touched_at", UTCDateTime, nullable=True),
    sa.Column("touched_at", UTCDateTime, nullable=True),
    # Assignment (0005): when the assignee's hold lapses (claim_timeout, renewed on touch).
    sa.Column("hold_expires_at", UTCDateTime, nullable=True),
    # Insight (0007): the review fields' values the reviewer entered; for a queue ordered
    # to learn, the task's priority (lower first) and until when it may wait for it.
    sa.Column("fields", JSONType, nullable=True),
    sa.Column("priority", sa.Float, nullable=True),
    sa.Column("learn_until", UTCDateTime, nullable=True),
    # Consensus (0010): a `vote` or the `tiebreak` of a consensus item (NULL: a normal
    # task); one reviewer holds at most one task of an item.
    sa.Column("kind", sa.String(16), nullable=True),
    sa.Index("uq_review_tasks_item_assignee", "item_id", "assignee_id", unique=True),
    sa.Index("ix_review_tasks_status_workflow", "status", "workflow_id", "id"),
    sa.Index("ix_review_tasks_assignee_status", "assignee_id", "status"),
    sa.Index("ix_review_tasks_item", "item_id"),
    # Claims (0005): open tasks in due order, and lapsed holds, without a sort.
    sa.Index("ix_review_tasks_claim", "status", "due_at", "id"),
    sa.Index("ix_review_tasks_status_hold", "status", "hold_expires_at"),
    # Learning order (0007): open tasks by priority, without a sort.
    sa.Index("ix_review_tasks_learn", "status", "priority", "id"),
    # Metrics (0002): reviewer throughput, time on task and late decisions, index-only.
    sa.Index(
        "ix_review_tasks_workflow_decided_cover",
        "workflow_id",
        "status",
        "decided_at",
        "assignee_id",
        "due_at",
        "time_on_task_ms",
    ),
    # SLA timers (0005): one partial index per timer over pending tasks whose timer has not
    # fired, so each sweep query is a range scan on (workflow_id, created_at) however many
    # tasks are waiting or have already been reminded/escalated.
    sa.Index(
        "ix_review_tasks_remind_due",
        "workflow_id",
        "created_at",
        postgresql_where=sa.text(f"reminded_at IS NULL AND {PENDING_SQL}"),
        sqlite_where=sa.text(f"reminded_at IS NULL AND {PENDING_SQL}"),
    ),
    sa.Index(
        "ix_review_tasks_escalate_due",
        "workflow_id",
        "created_at",
        postgresql_where=sa.text(f"escalated_at IS NULL AND {PENDING_SQL}"),
        sqlite_where=sa.text(f"escalated_at IS NULL AND {PENDING_SQL}"),
    ),
    sa.Index(
        "ix_review_tasks_pending_created",
        "workflow_id",
        "created_at",
        postgresql_where=sa.text(PENDING_SQL),
        sqlite_where=sa.text(PENDING_SQL),
    ),
    # Per-group backlog (0005): pending tasks by group, oldest first.
    sa.Index(
        "ix_review_tasks_pending_group",
        "group_name",
        "created_at",
        postgresql_where=sa.text(PENDING_SQL),
        sqlite_where=sa.text(PENDING_SQL),
    ),
)

reviewer_groups = sa.Table(
    "reviewer_groups",
    metadata,
    _id(),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("org_id", BigId, sa.ForeignKey("orgs.id"), nullable=False, index=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

group_members = sa.Table(
    "group_members",
    metadata,
    _id(),
    sa.Column("group_id", BigId, sa.ForeignKey("reviewer_groups.id"), nullable=False),
    sa.Column("user_id", BigId, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("skills", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("group_id", "user_id", name="uq_group_members_group_user"),
    sa.Index("ix_group_members_user", "user_id"),
)

# Round-robin assignment (0005): the member each group last gave a task to, shared by
# every worker; its row is also the lock that serialises assignment within a group.
assignment_cursors = sa.Table(
    "assignment_cursors",
    metadata,
    sa.Column("group_name", sa.String(64), primary_key=True),
    sa.Column("last_user_id", BigId, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    _id(),
    sa.Column("chain", sa.String(64), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("item_id", BigId, nullable=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("data", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    # Which audit key signed the HMAC in `hash`; None: a legacy SHA-256 event.
    sa.Column("key_id", sa.String(32), nullable=True),
    sa.UniqueConstraint("chain", "seq", name="uq_audit_events_chain_seq"),
    sa.Index("ix_audit_events_item", "item_id", "seq"),
)

audit_chains = sa.Table(
    "audit_chains",
    metadata,
    sa.Column("chain", sa.String(64), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    _id(),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("item_id", BigId, nullable=True),
    sa.Column("workflow_id", BigId, nullable=True),
    sa.Column("target", sa.Text, nullable=True),
    sa.Column("message_id", sa.String(64), nullable=False),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("lease_expires_at", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Index("ix_outbox_status_next", "status", "next_attempt_at"),
)

delivery_attempts = sa.Table(
    "delivery_attempts",
    metadata,
    _id(),
    sa.Column("outbox_id", BigId, sa.ForeignKey("outbox.id"), nullable=False),
    sa.Column("attempted_at", UTCDateTime, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("duration_ms", sa.Integer, nullable=True),
    sa.Index("ix_delivery_attempts_outbox", "outbox_id"),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    _id(),
    sa.Column("workflow_id", BigId, sa.ForeignKey("workflows.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("n_labels", sa.Integer, nullable=False),
    sa.Column("metrics", JSONType, nullable=False),
    sa.Column("artifact", sa.LargeBinary, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("workflow_id", "version", name="uq_model_versions_workflow_version"),
)

# Learning state shared by every process (0003): the decision counter calibration
# revalidates against, and the retrain schedule's lease.
learning_state = sa.Table(
    "learning_state",
    metadata,
    sa.Column("workflow_id", BigId, sa.ForeignKey("workflows.id"), primary_key=True),
    sa.Column("retrain_owner", sa.String(64), nullable=True),
    sa.Column("retrain_lease_expires_at", UTCDateTime, nullable=True),
)

# Human decisions per workflow (0013), the counter thresholds are revalidated against:
# rollups.SHARDS rows per workflow (storage/learning.py), so concurrent decisions do not queue
# on one row; the count is their sum.
decision_counts = sa.Table(
    "decision_counts",
    metadata,
    sa.Column("workflow_id", BigId, sa.ForeignKey("workflows.id"), primary_key=True),
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("n", sa.BigInteger, nullable=False, server_default="0"),
)

labelled_examples = sa.Table(
    "labelled_examples",
    metadata,
    _id(),
    sa.Column("workflow_id", BigId, sa.ForeignKey("workflows.id"), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("label", sa.String(255), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("item_id", BigId, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_labelled_examples_workflow", "workflow_id", "id"),
)

login_attempts = sa.Table(
    "login_attempts",
    metadata,
    _id(),
    sa.Column("email", sa.String(255), nullable=False),
    sa.Column("remote", sa.String(64), nullable=True),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("attempted_at", UTCDateTime, nullable=False),
    sa.Index("ix_login_attempts_email_at", "email", "attempted_at"),
)

# Sign-in throttling: one counter per (account, address) and per address, incremented
# atomically before the password is checked.
login_throttles = sa.Table(
    "login_throttles",
    metadata,
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("window_start", UTCDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
)

# Notifications (0005_notify): action links in messages (single use, expiring; the
# token's random part is stored hashed), each user's digest choice, and the entries
# waiting for a user's next digest.
action_links = sa.Table(
    "action_links",
    metadata,
    _id(),
    sa.Column("nonce_hash", sa.String(64), nullable=False),
    sa.Column("task_id", BigId, sa.ForeignKey("review_tasks.id"), nullable=False),
    sa.Column("item_id", BigId, sa.ForeignKey("items.id"), nullable=False),
    # None: a link posted to a shared channel; whoever follows it signs in first.
    sa.Column("user_id", BigId, sa.ForeignKey("users.id"), nullable=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime, nullable=True),
    sa.Index("ix_action_links_task", "task_id"),
)

notification_preferences = sa.Table(
    "notification_preferences",
    metadata,
    sa.Column("user_id", BigId, sa.ForeignKey("users.id"), primary_key=True),
    # 0: one email per event; N: one digest email per N minutes.
    sa.Column("digest_minutes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("digest_sent_at", UTCDateTime, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

digest_entries = sa.Table(
    "digest_entries",
    metadata,
    _id(),
    sa.Column("user_id", BigId, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("item_id", BigId, nullable=True),
    sa.Column("workflow_id", BigId, nullable=True),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("digested_at", UTCDateTime, nullable=True),
    sa.Index("ix_digest_entries_user_digested", "user_id", "digested_at"),
)

# Dashboard rollups (0008), written by storage/rollups.py in the decision's transaction.
# `route` is '' where the item has none (key columns cannot be NULL). The counters a
# person's decision adds to are split in `shard`s (0013; readers add them up).
decision_rollups = sa.Table(
    "decision_rollups",
    metadata,
    sa.Column("workflow_id", BigId, primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("route", sa.String(8), primary_key=True),
    sa.Column("qa_sample", sa.Boolean, primary_key=True),
    sa.Column("shard", sa.SmallInteger, primary_key=True, server_default="0"),
    sa.Column("n", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("overridden", sa.BigInteger, nullable=False, server_default="0"),
)

confidence_rollups = sa.Table(
    "confidence_rollups",
    metadata,
    sa.Column("workflow_id", BigId, primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("route", sa.String(8), primary_key=True),
    sa.Column("bucket", sa.Integer, primary_key=True),
    sa.Column("n", sa.BigInteger, nullable=False, server_default="0"),
)

# Time to decision (0012): decided items by (workflow, UTC day of decision, route, bucket
# of the seconds from intake to decision, log-spaced as in domain/durations.py).
decision_time_rollups = sa.Table(
    "decision_time_rollups",
    metadata,
    sa.Column("workflow_id", BigId, primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("route", sa.String(8), primary_key=True),
    sa.Column("bucket", sa.Integer, primary_key=True),
    sa.Column("shard", sa.SmallInteger, primary_key=True, server_default="0"),
    sa.Column("n", sa.BigInteger, nullable=False, server_default="0"),
)

received_rollups = sa.Table(
    "received_rollups",
    metadata,
    sa.Column("workflow_id", BigId, primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("n", sa.BigInteger, nullable=False, server_default="0"),
)

# Oversight (0011): gold items (a known answer) waiting to be mixed into a workflow's
# queue; `item_id` is set when one is released as an item.
gold_items = sa.Table(
    "gold_items",
    metadata,
    _id(),
    sa.Column("workflow_id", BigId, sa.ForeignKey("workflows.id"), nullable=False),
    sa.Column("content", JSONType, nullable=False),
    sa.Column("label", sa.String(255), nullable=False),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("item_id", BigId, nullable=True),
    sa.Column("released_at", UTCDateTime, nullable=True),
    sa.Index("ix_gold_items_workflow_item", "workflow_id", "item_id"),
)

# A reviewer flagged to admins for gold accuracy below the workflow's floor (one row per
# workflow and reviewer: the flag is raised, and audited, once).
reviewer_flags = sa.Table(
    "reviewer_flags",
    metadata,
    sa.Column("workflow_id", BigId, sa.ForeignKey("workflows.id"), primary_key=True),
    sa.Column("user_id", BigId, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("flagged_at", UTCDateTime, nullable=False),
    sa.Column("accuracy", sa.Float, nullable=True),
    sa.Column("upper", sa.Float, nullable=True),
    sa.Column("n", sa.Integer, nullable=False),
)
