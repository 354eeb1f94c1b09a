"""The password rules shared by the CLI, the web UI and the API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from signoff.domain import passwords

TESTS = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("x", "at least 12"),
        ("elevenchars", "at least 12"),
        ("password1234", "too common"),
        ("QwertyUiop123", "too common"),
        ("aaaaaaaaaaaaaaaa", "too common"),
        ("abababababababab", "too common"),
        ("ann@example.com", "email address"),
        ("x" * (passwords.MAX_LENGTH + 1), "at most"),
    ],
)
def test_weak_passwords_are_refused_saying_why(password: str, reason: str) -> None:
    problem = passwords.problem(password, "ann@example.com")
    assert problem is not None and reason in problem
    assert problem.startswith("password: ")


def test_a_long_uncommon_password_passes() -> None:
    assert passwords.problem("violet-harbour-tram-42", "ann@example.com") is None


def test_every_listed_common_password_is_long_enough_to_need_listing() -> None:
    assert all(len(p) >= passwords.MIN_LENGTH for p in passwords.COMMON)


def test_the_passwords_the_test_fixtures_and_demo_use_pass_the_rules() -> None:
    sources = [TESTS / "conftest.py", TESTS.parent / "src" / "signoff" / "cli" / "demo.py"]
    found = []
    for source in sources:
        found += re.findall(r'password="([^"]+)"', source.read_text())
        found += re.findall(r'\("[^"]+@example\.com", "([^"]+)"\)', source.read_text())
    assert len(found) >= 6
    assert [p for p in found if passwords.problem(p) is not None] == []
