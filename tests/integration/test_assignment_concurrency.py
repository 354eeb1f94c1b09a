"""No task is ever held by two reviewers: 24 reviewers claiming and an admin assigning at
once, on SQLite and PostgreSQL; on PostgreSQL the claim reads an index, never sorts."""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from signoff.domain.states import Role
from signoff.services import assignment, processing, review, users
from signoff.services.context import Context
from signoff.storage import tables as t
from tests.conftest import Keys, require_postgres

REVIEWERS = 24
#: Reviewers the admin assigns to, who do not claim (so every claim takes from the pool).
TARGETS = 4
#: Assignments each of the two admin threads makes.
ADMIN_ASSIGNMENTS = 6
#: Enough tasks that every claimer finds one even when every admin assignment took an
#: open task first: which of the two comes first is the race under test.
TASKS = REVIEWERS + 2 * ADMIN_ASSIGNMENTS + 4
UNSURE = {"label": "invoice", "confidence": 0.5}


def _seed(client: TestClient, keys: Keys, ctx: Context) -> list[Any]:
    response = client.post(
        "/api/v1/workflows/docs/items/batch",
        json={"items": [{"content": UNSURE} for _ in range(TASKS)]},
        headers=keys.auth(keys.admin),
    )
    assert response.status_code == 201, response.text
    processing.process_batch(ctx, "w1", processing.ProviderCache(ctx), 500)
    principals = []
    for i in range(REVIEWERS + TARGETS):
        email = f"r{i}@example.com"
        users.add_user(ctx, email, Role.REVIEWER)
        principals.append(
            users.Principal(user_id=_user_id(ctx, email), email=email, role=Role.REVIEWER)
        )
    return principals


def _user_id(ctx: Context, email: str) -> int:
    with ctx.sessions() as session:
        return int(
            session.execute(sa.select(t.users.c.id).where(t.users.c.email == email)).scalar_one()
        )


def test_concurrent_claims_and_admin_assignments_never_give_a_task_to_two_reviewers(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    everyone = _seed(client, keys, ctx)
    reviewers, targets = everyone[:REVIEWERS], everyone[REVIEWERS:]
    admin = users.Principal(
        user_id=_user_id(ctx, "admin@example.com"), email="admin@example.com", role=Role.ADMIN
    )
    with ctx.sessions() as session:
        task_ids = list(session.execute(sa.select(t.review_tasks.c.id)).scalars())
    start = threading.Barrier(REVIEWERS + 2)
    claimed: dict[str, int | None] = {}
    admin_done: list[tuple[int, str]] = []
    failures: list[BaseException] = []

    def claimer(principal: users.Principal) -> None:
        try:
            start.wait()
            task = review.claim_next_task(ctx, principal)
            claimed[str(principal.email)] = task.id if task is not None else None
        except BaseException as exc:  # surfaced below
            failures.append(exc)

    def assigner(seed: int) -> None:
        rng = random.Random(seed)
        try:
            start.wait()
            for _ in range(ADMIN_ASSIGNMENTS):
                task_id = rng.choice(task_ids)
                who = rng.choice(targets)
                assignment.assign_task(ctx, admin, task_id, str(who.email))
                admin_done.append((task_id, str(who.email)))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=claimer, args=(p,)) for p in reviewers]
    threads += [threading.Thread(target=assigner, args=(s,)) for s in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, failures
    got = [task_id for task_id in claimed.values() if task_id is not None]
    assert len(claimed) == REVIEWERS and len(got) == REVIEWERS  # everyone got one
    assert len(set(got)) == len(got), Counter(got).most_common(3)
    with ctx.sessions() as session:
        rows = {r.id: r for r in session.execute(sa.select(t.review_tasks))}
        events = list(
            session.execute(
                sa.select(t.audit_events)
                .where(t.audit_events.c.type == "assigned")
                .order_by(t.audit_events.c.item_id, t.audit_events.c.seq)
            )
        )
    # Per task, the assignments recorded are the claims plus the admin's, and the last
    # one recorded is who holds it now: the audit trail and the row agree.
    per_task: dict[int, list[Any]] = {}
    for event in events:
        per_task.setdefault(event.data["task_id"], []).append(event)
    expected = Counter(got) + Counter(task_id for task_id, _ in admin_done)
    assert {k: len(v) for k, v in per_task.items()} == dict(expected)
    for task_id, recorded in per_task.items():
        holder = rows[task_id].assignee_id
        assert recorded[-1].data["assignee"] == _email(ctx, holder)


def _email(ctx: Context, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    with ctx.sessions() as session:
        return session.execute(
            sa.select(t.users.c.email).where(t.users.c.id == user_id)
        ).scalar_one()


def test_the_claim_probes_read_the_claim_index_without_sorting_the_backlog(
    pg_url: str,
) -> None:
    require_postgres()
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as connection:
            wf = connection.execute(
                sa.insert(t.workflows)
                .values(
                    name="bulk",
                    org_id=1,
                    current_version=1,
                    created_at=sa.func.now(),
                    updated_at=sa.func.now(),
                )
                .returning(t.workflows.c.id)
            ).scalar_one()
            connection.execute(
                sa.text(
                    "INSERT INTO items (workflow_id, workflow_version, content, metadata, state,"
                    " created_at, updated_at) SELECT :wf, 1, '{}', '{}', 'in_review', now(), now()"
                    " FROM generate_series(1, 20000)"
                ),
                {"wf": wf},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO review_tasks (item_id, workflow_id, status, created_at, due_at)"
                    " SELECT id, workflow_id, 'open', now(),"
                    " CASE WHEN id % 2 = 0 THEN now() + (id || ' minutes')::interval END FROM items"
                )
            )
            connection.execute(sa.text("ANALYZE review_tasks"))
        from sqlalchemy.orm import Session

        from signoff.storage import tasks

        plans: list[str] = []

        @sa.event.listens_for(engine, "before_cursor_execute", retval=True)
        def _explain(
            conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
        ) -> Any:
            if statement.lstrip().startswith("SELECT review_tasks.id"):
                cursor.execute("EXPLAIN " + statement, params)
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
            return statement, params

        with Session(engine) as session, session.begin():
            found = tasks.list_claimable_tasks(
                session, [wf], sa.func.now(), groups=["clerks"], exclude=[1, 2]
            )
        assert found, "a task is offered"
        assert len(plans) == 2  # a due open task found: the no-due probe is skipped
        due, lapsed = plans
        # Open tasks in due order straight off the claim index: no sort over the backlog.
        assert "ix_review_tasks_claim" in due and "Sort" not in due, due
        # Lapsed holds: an index range over assigned tasks only (a few per reviewer); only
        # those are sorted, never the open backlog.
        assert "Index Cond: ((status)::text = 'assigned'::text)" in lapsed, lapsed
    finally:
        engine.dispose()
