"""A `provider: python` model that can stop a worker process at a chosen point.

`ai.options.function: tests.faults.gated:predict`. In a process started with
`FAULTS_GATE_DIR` and `FAULTS_GATE` set, it stops (forever; the test kills the
process) at one point of the AI step and says so by writing `<dir>/reached`:

- `after_claim`: when the provider is built, i.e. after the worker leased its first
  batch and before any item reached the model;
- `during_ai`: inside the model call of the first item;
- `after_answer`: inside the call of the item whose content says `"last": true`,
  after answering every earlier item of the batch (their answers are then held by
  the worker, not yet recorded).

Every answered item id is appended to `<dir>/answered`. Without the variables (the
replacement worker, the API server, `workflows apply`) it just answers what each
item's content says.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

GATE_DIR = os.environ.get("FAULTS_GATE_DIR")
GATE = os.environ.get("FAULTS_GATE")


def _stop_here(what: str) -> None:
    assert GATE_DIR is not None
    (Path(GATE_DIR) / "reached").write_text(what)
    threading.Event().wait()  # until SIGKILL


if GATE_DIR and GATE == "after_claim":
    # Imported when the worker builds the provider for its first claimed batch.
    _stop_here("after_claim")


def predict(item: Any) -> dict[str, Any]:
    content = item.content
    if GATE_DIR and GATE == "during_ai":
        _stop_here(f"during_ai {item.item_id}")
    if GATE_DIR and GATE == "after_answer" and content.get("last"):
        _stop_here(f"after_answer {item.item_id}")
    if GATE_DIR:
        with (Path(GATE_DIR) / "answered").open("a") as out:
            out.write(f"{item.item_id}\n")
    return {"label": content["label"], "confidence": content["confidence"]}
