"""Generated business documents for the demo: invoices, contracts, receipts and others.

The demo must run on a fresh clone with no downloads, so its documents are made
here from varied templates with a fixed seed; some are deliberately ambiguous so
the model is unsure about them and people get work.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

COMPANIES = [
    "Acme Corp",
    "Globex Ltd",
    "Initech GmbH",
    "Umbrella SA",
    "Hooli Inc",
    "Stark Industries",
    "Wayne Enterprises",
    "Soylent BV",
    "Tyrell AG",
    "Cyberdyne Systems",
    "Vandelay Imports",
    "Wonka Foods",
    "Oceanic Air",
    "Massive Dynamic",
    "Pied Piper",
    "Gringotts Bank",
]
PEOPLE = [
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Katherine Johnson",
    "Linus Pauling",
    "Marie Curie",
    "Niels Bohr",
    "Rosalind Franklin",
    "Carl Sagan",
    "Hedy Lamarr",
]
ITEMS = [
    "consulting hours",
    "cloud hosting",
    "office chairs",
    "laptops",
    "support plan",
    "design work",
    "printer toner",
    "software licences",
    "training session",
    "catering",
]
STORES = [
    "Corner Cafe",
    "City Pharmacy",
    "FuelStop",
    "BookNook",
    "Metro Taxi",
    "Grand Hotel",
    "Parking Garage",
    "Hardware Depot",
    "Airport Shuttle",
    "Lunch Bar",
]


def _money(rng: random.Random) -> str:
    return (
        f"{rng.choice(['EUR', 'USD', 'GBP'])} {rng.randint(12, 48000):,}.{rng.randint(0, 99):02d}"
    )


def _date(rng: random.Random) -> str:
    return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def invoice(rng: random.Random) -> str:
    seller, buyer = rng.sample(COMPANIES, 2)
    lines = "\n".join(
        f"- {rng.randint(1, 40)} x {rng.choice(ITEMS)} @ {_money(rng)}"
        for _ in range(rng.randint(1, 4))
    )
    opener = rng.choice(["INVOICE", "Invoice", "Tax invoice", "Bill", "Invoice no."])
    terms = rng.choice(
        [
            "Payment due within 30 days.",
            "Please pay by bank transfer to IBAN DE44 5001 0517 5407 3249 31.",
            "Net 14. Late payments incur interest.",
            "Amount due upon receipt.",
        ]
    )
    return (
        f"{opener} INV-{rng.randint(1000, 99999)} dated {_date(rng)}\nFrom {seller} to {buyer}.\n"
        f"{lines}\nTotal amount due: {_money(rng)} (VAT included). {terms}"
    )


def contract(rng: random.Random) -> str:
    a, b = rng.sample(COMPANIES, 2)
    kind = rng.choice(
        [
            "Service Agreement",
            "Non-Disclosure Agreement",
            "Master Services Agreement",
            "Lease Agreement",
            "Employment Contract",
            "Supply Contract",
        ]
    )
    clauses = rng.sample(
        [
            "The term of this agreement is 24 months and renews automatically.",
            "Either party may terminate with 90 days written notice.",
            "This agreement is governed by the laws of the State of New York.",
            "The receiving party shall keep all confidential information secret.",
            "Liability is limited to the fees paid in the preceding twelve months.",
            "Disputes shall be settled by binding arbitration.",
            "The parties agree to the obligations set out in Schedule A.",
            "Signed by the authorised representatives of both parties.",
        ],
        k=rng.randint(2, 4),
    )
    return (
        f"{kind} between {a} (the Provider) and {b} (the Client), effective {_date(rng)}.\n"
        + " ".join(clauses)
        + f"\nSigned: {rng.choice(PEOPLE)}, {rng.choice(PEOPLE)}"
    )


def receipt(rng: random.Random) -> str:
    store = rng.choice(STORES)
    return (
        f"{store} - RECEIPT\n{_date(rng)} {rng.randint(6, 22):02d}:{rng.randint(0, 59):02d}\n"
        f"{rng.choice(['Card payment', 'Cash', 'Visa ****' + str(rng.randint(1000, 9999))])}\n"
        f"Subtotal {_money(rng)}  Tip {rng.randint(0, 15)}%\nTOTAL PAID {_money(rng)}\n"
        f"{rng.choice(['Thank you for your visit!', 'Keep this receipt for returns.', 'Have a nice day'])}"
    )


def other(rng: random.Random) -> str:
    return rng.choice(
        [
            f"Hi team, the {rng.choice(ITEMS)} meeting moves to {_date(rng)}. Agenda attached. - {rng.choice(PEOPLE)}",
            f"Newsletter: {rng.choice(COMPANIES)} announces a new office and a summer party for all staff.",
            f"Reminder: please submit your timesheets by Friday. Questions to {rng.choice(PEOPLE)}.",
            f"Meeting notes {_date(rng)}: discussed roadmap, hiring and the {rng.choice(ITEMS)} budget.",
            f"Out of office until {_date(rng)}. For urgent matters contact {rng.choice(PEOPLE)}.",
            f"Press release: {rng.choice(COMPANIES)} partners with {rng.choice(COMPANIES)} on sustainability.",
        ]
    )


SECOND_READING = {"invoice": "contract", "contract": "invoice", "receipt": "invoice"}


def ambiguous(rng: random.Random, disputed_share: float = 0.0) -> tuple[str, str]:
    """Documents that mix the signals of two kinds; the label is usually the dominant one.

    With probability `disputed_share` the true label is the other kind the text
    suggests, as it is for real look-alike documents: no model gets those all right.
    """
    kind = rng.choice(["invoice", "contract", "receipt"])
    if kind == "invoice":
        text = (
            f"Per our agreement with {rng.choice(COMPANIES)}, please find the amount of {_money(rng)} "
            "for services rendered under the contract. Payment terms as agreed."
        )
    elif kind == "contract":
        text = (
            f"Order confirmation and terms: {rng.choice(COMPANIES)} agrees to supply {rng.choice(ITEMS)} "
            f"for {_money(rng)}; both parties accept the terms and conditions."
        )
    else:
        text = (
            f"Payment received {_money(rng)} for invoice INV-{rng.randint(1000, 9999)}. Thank you."
        )
    if disputed_share and rng.random() < disputed_share:
        return text, SECOND_READING[kind]
    return text, kind


MAKERS = {"invoice": invoice, "contract": contract, "receipt": receipt, "other": other}


def generate(
    n: int, seed: int = 7, ambiguous_share: float = 0.12, disputed_share: float = 0.0
) -> Iterator[tuple[str, str]]:
    """`n` (text, label) pairs, reproducible from `seed` (see `ambiguous` for the shares)."""
    rng = random.Random(seed)
    labels = list(MAKERS)
    for _ in range(n):
        if rng.random() < ambiguous_share:
            yield ambiguous(rng, disputed_share)
        else:
            label = rng.choice(labels)
            yield MAKERS[label](rng), label
