"""User-supplied regular expressions, compiled for RE2: matching time is linear in the text.

Python's `re` backtracks, so a pattern such as `(a+)+$` can take minutes on a short
document. RE2 never backtracks; patterns that need it (backreferences, look-around)
are refused when the workflow is applied.
"""

from __future__ import annotations

from typing import Any

import re2

MAX_PATTERN_CHARS = 1000
ENGINE = "re2"


def compile_pattern(pattern: str) -> Any:
    """The RE2 program for `pattern`; ValueError (with RE2's reason) if RE2 cannot run it."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"a pattern may be at most {MAX_PATTERN_CHARS} characters")
    options = re2.Options()
    options.log_errors = False  # the reason goes to the user in the error, not to stderr
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(
            f"pattern {pattern!r} is not a regular expression RE2 accepts: {reason} "
            "(backreferences and look-around are not supported)"
        ) from None
