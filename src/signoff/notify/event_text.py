"""What chat and paging channels say about a review event, from its payload.

The payload is the one `services.notifications` documents; every field is read
defensively (a message stored by an older version may lack some), and everything
taken from an item is treated as untrusted text by the channel that renders it.
"""

from __future__ import annotations

from typing import Any

TITLES = {
    "task.created": "New review task",
    "task.assigned": "Review task assigned",
    "task.reminder": "Reminder: a review is waiting",
    "task.escalated": "Review escalated",
    "task.timed_out": "Review timed out: default outcome applied",
    "task.decided": "Review decided",
    "item.decided": "Item decided",
}


def _section(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, dict) else {}


def title(payload: dict[str, Any]) -> str:
    """`Review escalated · invoices`."""
    kind = str(payload.get("type") or "review event")
    workflow = payload.get("workflow")
    heading = TITLES.get(kind, kind)
    return f"{heading} · {workflow}" if workflow else heading


def summary(payload: dict[str, Any]) -> str:
    return str(_section(payload, "item").get("summary") or "").strip()


def item_name(payload: dict[str, Any]) -> str:
    item = _section(payload, "item")
    name = f"Item {item.get('id', '?')}"
    return f"{name} ({item['external_id']})" if item.get("external_id") else name


def facts(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """(title, value) pairs worth showing: item, AI answer, assignee, group, due, outcome."""
    item, task = _section(payload, "item"), _section(payload, "task")
    rows = [("Item", item_name(payload))]
    if item.get("label") is not None:
        confidence = item.get("confidence")
        shown = f" ({confidence:.2f})" if isinstance(confidence, int | float) else ""
        rows.append(("AI label", f"{item['label']}{shown}"))
    for key, name in (("assignee", "Assignee"), ("group", "Group"), ("due_at", "Due")):
        if task.get(key):
            rows.append((name, str(task[key])))
    if item.get("outcome"):
        rows.append(("Outcome", str(item["outcome"])))
    return rows


def links(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, URL): the item page, then one per action link (`Approved`, `Rejected`...)."""
    found = []
    if isinstance(payload.get("url"), str) and payload["url"]:
        found.append(("Open item", payload["url"]))
    for outcome, url in _section(payload, "actions").items():
        if isinstance(url, str) and url:
            found.append((str(outcome).replace("_", " ").capitalize(), url))
    return found


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
