"""A long-running process keeps the collector off what it built at start-up."""

from __future__ import annotations

import gc
import weakref

from signoff.cli.common import settle_heap


class _Cycle:
    me: _Cycle | None = None


def test_what_start_up_built_is_left_alone_and_later_garbage_is_still_collected() -> None:
    built = [[n] for n in range(50_000)]  # as start-up's modules, app and engine
    try:
        settle_heap()
        assert gc.get_freeze_count() >= len(built)
        later = _Cycle()
        later.me = later  # garbage only a collection can free
        gone = weakref.ref(later)
        del later
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
