"""Sample records for each template, made here from varied phrases with a fixed seed.

A fresh clone has no datasets, so each template's data is generated: enough
variety for the built-in model to learn, and a share of look-alike records that
mix two kinds, so the model is unsure about some and people get work.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from signoff.demo import documents


@dataclass(frozen=True)
class Example:
    """One sample record: its text, the label a careful reviewer gives it, its metadata."""

    text: str
    label: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"text": self.text, "label": self.label}
        if self.metadata:
            data["metadata"] = self.metadata
        return data


Maker = Callable[[random.Random], str]


def _pick(rng: random.Random, options: Sequence[str]) -> str:
    return options[rng.randrange(len(options))]


def _mixed(
    makers: Mapping[str, Maker],
    n: int,
    seed: int,
    ambiguous_share: float,
    weights: dict[str, float] | None = None,
) -> Iterator[tuple[str, str]]:
    """(text, label) pairs; an ambiguous one joins two kinds and takes one label at random."""
    rng = random.Random(seed)
    labels = list(makers)
    chances = [weights.get(label, 1.0) if weights else 1.0 for label in labels]
    for _ in range(n):
        label = rng.choices(labels, chances)[0]
        text = makers[label](rng)
        if rng.random() < ambiguous_share:
            other = rng.choice([x for x in labels if x != label])
            text = f"{text} {makers[other](rng)}"
            label = rng.choice([label, other])
        yield text, label


# --- content moderation -------------------------------------------------------------

_TOPICS = [
    "the new update",
    "this recipe",
    "the match last night",
    "my garden",
    "the concert",
    "your photo",
    "the trail map",
    "this library",
    "the release notes",
    "our meetup",
]


def _allow(rng: random.Random) -> str:
    return _pick(
        rng,
        [
            f"Loved {_pick(rng, _TOPICS)}, thanks for sharing!",
            f"Does anyone know where to find more about {_pick(rng, _TOPICS)}?",
            f"Great write-up on {_pick(rng, _TOPICS)}; the second part helped me a lot.",
            f"I disagree about {_pick(rng, _TOPICS)}, but it is a fair point.",
            f"Posting my notes on {_pick(rng, _TOPICS)} below, corrections welcome.",
        ],
    )


def _spam(rng: random.Random) -> str:
    return _pick(
        rng,
        [
            f"BUY CHEAP followers now!!! {rng.randint(1000, 9999)} likes for $5 visit promo-deals",
            f"Earn ${rng.randint(500, 5000)} a day from home, click the link in my profile",
            "Limited offer: free crypto giveaway, send 1 coin and get 2 back",
            f"Best replica watches {rng.randint(10, 99)}% off, DM for the catalogue",
            "Work from home opportunity!!! no experience, instant payout, join today",
        ],
    )


def _abuse(rng: random.Random) -> str:
    return _pick(
        rng,
        [
            "You are an idiot and everyone here hates you",
            "Shut up, nobody asked for your stupid opinion, loser",
            f"People like you should be banned, you worthless troll #{rng.randint(1, 99)}",
            "What a pathetic clown, go away and never post again",
        ],
    )


def _self_harm(rng: random.Random) -> str:
    return _pick(
        rng,
        [
            "I don't see the point of going on anymore, I want it all to end",
            "Thinking about hurting myself again tonight, nobody would notice",
            "I can't cope any longer and have been planning to end my life",
        ],
    )


def _legal_threat(rng: random.Random) -> str:
    return _pick(
        rng,
        [
            "My lawyer will be in touch: this post is defamatory and I will sue",
            f"Remove this within {rng.randint(2, 7)} days or we will take legal action for libel",
            "This is copyright infringement; expect a court claim from our attorneys",
        ],
    )


MODERATION: dict[str, Maker] = {
    "allow": _allow,
    "spam": _spam,
    "abuse": _abuse,
    "self-harm": _self_harm,
    "legal-threat": _legal_threat,
}


def moderation(n: int, seed: int = 7, ambiguous_share: float = 0.12) -> list[Example]:
    weights = {"allow": 4.0, "spam": 2.0, "abuse": 1.5, "self-harm": 0.4, "legal-threat": 0.4}
    rng = random.Random(seed + 1)
    return [
        Example(text, label, {"author_id": f"u{rng.randint(1000, 9999)}"})
        for text, label in _mixed(MODERATION, n, seed, ambiguous_share, weights)
    ]


# --- customer onboarding (KYC-style records) ------------------------------------------

_FIRST = ["Ada", "Grace", "Alan", "Katherine", "Linus", "Marie", "Niels", "Rosalind", "Carl"]
_LAST = ["Lovelace", "Hopper", "Turing", "Johnson", "Pauling", "Curie", "Bohr", "Franklin"]
_STREETS = ["High Street", "Station Road", "Mill Lane", "Church Road", "Park Avenue"]
_TOWNS = ["Leeds", "Bristol", "Cardiff", "York", "Bath", "Derby"]


def _person(rng: random.Random) -> str:
    return f"{_pick(rng, ['Ms', 'Mr', 'Dr'])} {_pick(rng, _FIRST)} {_pick(rng, _LAST)}"


def _company_number(rng: random.Random) -> str:
    return f"{rng.randint(0, 99_999_999):08d}"


def _address(rng: random.Random) -> str:
    return f"{rng.randint(1, 200)} {_pick(rng, _STREETS)}, {_pick(rng, _TOWNS)}"


def _low_risk(rng: random.Random) -> str:
    return (
        f"Application from {_person(rng)}, director of {_pick(rng, documents.COMPANIES)}, "
        f"company number {_company_number(rng)}, registered at {_address(rng)}. "
        + _pick(
            rng,
            [
                "Identity verified against passport; proof of address matches the register.",
                "Documents complete and consistent; trading history of several years.",
                "Director and shareholders verified; accounts filed on time.",
            ],
        )
    )


def _needs_documents(rng: random.Random) -> str:
    return (
        f"Application from {_person(rng)} for {_pick(rng, documents.COMPANIES)}, "
        f"company number {_company_number(rng)}. "
        + _pick(
            rng,
            [
                "Proof of address missing; utility bill older than three months.",
                "Passport scan unreadable, please request a new copy.",
                "Shareholder register not provided; ownership above 25 % unclear.",
            ],
        )
    )


def _high_risk(rng: random.Random) -> str:
    return (
        f"Application from {_person(rng)} for a newly formed company, number "
        f"{_company_number(rng)}, address {_address(rng)}. "
        + _pick(
            rng,
            [
                "Funds routed through several offshore accounts; source of wealth unexplained.",
                "Director linked to dissolved companies with unpaid debts; nominee shareholders.",
                "Registered address is a mail drop used by many unrelated firms; cash intensive.",
            ],
        )
    )


ONBOARDING: dict[str, Maker] = {
    "low-risk": _low_risk,
    "needs-documents": _needs_documents,
    "high-risk": _high_risk,
}


def onboarding(n: int, seed: int = 7, ambiguous_share: float = 0.12) -> list[Example]:
    rng = random.Random(seed + 1)
    weights = {"low-risk": 4.0, "needs-documents": 2.0, "high-risk": 1.0}
    return [
        # A screening service flags a few applicants; those always go to a person.
        Example(text, label, {"sanctions_hit": rng.random() < 0.03, "country": "GB"})
        for text, label in _mixed(ONBOARDING, n, seed, ambiguous_share, weights)
    ]


# --- billing disputes (refund requests) -------------------------------------------------


def _amount(rng: random.Random) -> str:
    return f"EUR {rng.randint(5, 900)}.{rng.randint(0, 99):02d}"


def _refund(rng: random.Random) -> str:
    return _pick(
        rng,
        [
            f"I was charged twice for order {rng.randint(10000, 99999)}: {_amount(rng)} each. "
            "Please refund the duplicate charge.",
            f"I cancelled my subscription on time but was billed {_amount(rng)} again; refund please.",
            f"The item never arrived and tracking shows it was returned to sender; refund {_amount(rng)}.",
        ],
    )


def _deny(rng: random.Random) -> str:
    return _pick(
        rng,
        [
            f"I want my money back for last year's plan ({_amount(rng)}), I just did not use it much.",
            f"I changed my mind after using the service for six months, refund {_amount(rng)}.",
            f"Refund {_amount(rng)} because I forgot to cancel before the renewal two months ago.",
        ],
    )


def _partial(rng: random.Random) -> str:
    return _pick(
        rng,
        [
            f"Two of the five licences were never activated; refund those out of {_amount(rng)}.",
            f"The service was down for a week this month; I expect part of {_amount(rng)} back.",
            f"Delivery arrived damaged, only some items unusable; partial refund of {_amount(rng)}.",
        ],
    )


BILLING: dict[str, Maker] = {"refund": _refund, "deny": _deny, "partial": _partial}


def billing(n: int, seed: int = 7, ambiguous_share: float = 0.12) -> list[Example]:
    rng = random.Random(seed + 1)
    return [
        Example(text, label, {"customer_tier": _pick(rng, ["free", "pro", "enterprise"])})
        for text, label in _mixed(BILLING, n, seed, ambiguous_share)
    ]


# --- support triage ---------------------------------------------------------------------


def _billing_ticket(rng: random.Random) -> str:
    return _pick(
        rng,
        [
            "My invoice shows the wrong VAT number, can you reissue it?",
            f"Why was my card charged {_amount(rng)} this month? I am on the annual plan.",
            "How do I change the payment method on my account?",
        ],
    )


def _technical_ticket(rng: random.Random) -> str:
    return _pick(
        rng,
        [
            f"The export fails with error {rng.randint(400, 599)} when I pick more than a month.",
            "The dashboard does not load in Firefox since yesterday's release.",
            "API requests time out after 30 seconds when uploading large files.",
        ],
    )


def _account_ticket(rng: random.Random) -> str:
    return _pick(
        rng,
        [
            "I cannot reset my password, the reset email never arrives.",
            "Please add my colleague to our team workspace as an admin.",
            "How do I delete my account and all my data?",
        ],
    )


def _sales_ticket(rng: random.Random) -> str:
    return _pick(
        rng,
        [
            f"We are a team of {rng.randint(20, 500)} and would like a quote for the enterprise plan.",
            "Do you offer discounts for non-profits or universities?",
            "Can we get a demo of the single sign-on features before buying?",
        ],
    )


SUPPORT: dict[str, Maker] = {
    "billing": _billing_ticket,
    "technical": _technical_ticket,
    "account": _account_ticket,
    "sales": _sales_ticket,
}


def support(n: int, seed: int = 7, ambiguous_share: float = 0.12) -> list[Example]:
    rng = random.Random(seed + 1)
    return [
        Example(text, label, {"channel": _pick(rng, ["email", "chat", "web"])})
        for text, label in _mixed(SUPPORT, n, seed, ambiguous_share)
    ]


def document_review(n: int, seed: int = 7, ambiguous_share: float = 0.12) -> list[Example]:
    return [Example(t, label) for t, label in documents.generate(n, seed, ambiguous_share)]
