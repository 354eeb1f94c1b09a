"""Built-in regex entity extraction."""

from __future__ import annotations

from signoff.ai import entities
from signoff.domain.prediction import Entity
from signoff.domain.workflow import EntityType

EMAIL = EntityType(type="email", patterns=[r"[\w.+-]+@[\w-]+\.[\w.]+"])
DOMAIN = EntityType(type="domain", patterns=[r"\b[\w-]+\.(?:com|org)\b"])


def test_matches_come_back_with_their_offsets_in_text_order() -> None:
    text = "write to ann@example.com or bob@example.org"
    found = entities.extract_entities(text, [EMAIL])
    assert found == (
        Entity(type="email", text="ann@example.com", start=9, end=24),
        Entity(type="email", text="bob@example.org", start=28, end=43),
    )
    assert all(text[e.start : e.end] == e.text for e in found)  # type: ignore[misc]


def test_overlapping_matches_of_one_type_are_kept_once_longest_first() -> None:
    invoice = EntityType(type="invoice", patterns=[r"INV-\d+", r"INV-\d+-[A-Z]", r"INV-\d+"])
    found = entities.extract_entities("ref INV-2041-B and INV-7", [invoice])
    assert [e.text for e in found] == ["INV-2041-B", "INV-7"]


def test_different_types_may_overlap() -> None:
    found = entities.extract_entities("mail ann@example.com", [EMAIL, DOMAIN])
    assert [(e.type, e.text) for e in found] == [
        ("email", "ann@example.com"),
        ("domain", "example.com"),
    ]


def test_a_value_group_names_the_part_to_extract() -> None:
    amount = EntityType(type="amount", patterns=[r"(?i)total:?\s*(?P<value>\d+(?:\.\d\d)?)"])
    (found,) = entities.extract_entities("Total: 120.50 EUR", [amount])
    assert found == Entity(type="amount", text="120.50", start=7, end=13)


def test_case_insensitive_patterns_use_inline_flags() -> None:
    iban = EntityType(type="iban", patterns=[r"(?i)\bde\d{20}\b"])
    assert [e.text for e in entities.extract_entities("iban de89370400440532013000", [iban])] == [
        "de89370400440532013000"
    ]


def test_types_without_patterns_and_texts_without_matches_give_nothing() -> None:
    assert entities.extract_entities("anything", [EntityType(type="person")]) == ()
    assert entities.extract_entities("no address here", [EMAIL]) == ()
    assert entities.extract_entities("", [EMAIL]) == ()


def test_empty_matches_are_ignored() -> None:
    maybe = EntityType(type="digits", patterns=[r"\d*"])
    assert [e.text for e in entities.extract_entities("a1b22", [maybe])] == ["1", "22"]


def test_patterns_are_compiled_once() -> None:
    assert entities.compiled(r"\d+") is entities.compiled(r"\d+")


def test_the_number_of_entities_is_capped() -> None:
    digit = EntityType(type="digit", patterns=[r"\d"])
    assert len(entities.extract_entities("1" * 2000, [digit])) == entities.MAX_ENTITIES
    assert len(entities.extract_entities("1" * 20, [digit], limit=5)) == 5
