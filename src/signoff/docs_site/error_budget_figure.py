"""The error-budget picture of the concepts page: an SVG drawn from the routing maths itself.

A seeded set of reviewed items (the AI's error rate falls as its confidence rises) goes
through `error_budget.choose_threshold`; the figure plots, for each candidate threshold,
the estimated error of the items at or above it and the one-sided upper bound that
routing compares with the budget, and marks the threshold chosen.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

import numpy as np

from signoff.domain import error_budget

BUDGET = 0.05
ITEMS = 1500
#: Thresholds with fewer reviewed items above them are left out of the curves.
MIN_ABOVE = 40
LEVEL = 0.95
WIDTH, HEIGHT = 720, 400
LEFT, RIGHT, TOP, BOTTOM = 70, 30, 40, 60
X_RANGE = (0.5, 1.0)
Y_MAX = 0.25


def observations() -> list[error_budget.ReviewedObservation]:
    """1,500 reviewed items from a fixed seed: confident answers are right more often."""
    rng = np.random.default_rng(13)
    confidence = rng.beta(4.0, 1.4, size=ITEMS)
    p_wrong = 0.7 * (1.0 - confidence) ** 1.3
    wrong = rng.random(ITEMS) < p_wrong
    return [
        error_budget.ReviewedObservation(round(float(c), 3), not bool(w))
        for c, w in zip(confidence, wrong, strict=True)
    ]


def _x(threshold: float) -> float:
    low, high = X_RANGE
    return LEFT + (threshold - low) / (high - low) * (WIDTH - LEFT - RIGHT)


def _y(rate: float) -> float:
    return TOP + (1.0 - min(rate, Y_MAX) / Y_MAX) * (HEIGHT - TOP - BOTTOM)


def _polyline(points: list[tuple[float, float]], style: str) -> str:
    path = " ".join(f"{_x(t):.1f},{_y(r):.1f}" for t, r in points)
    return f'<polyline fill="none" {style} points="{path}"/>'


def _text(x: float, y: float, text: str, extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" {extra}>{escape(text)}</text>'


def render() -> str:
    """The SVG document."""
    items = observations()
    choice = error_budget.choose_threshold(
        items, error_budget=BUDGET, confidence_level=LEVEL, min_reviewed=30
    )
    assert choice.threshold is not None, "the seeded data must admit a threshold"
    confidence = np.array([o.confidence for o in items])
    wrong = np.array([not o.correct for o in items])
    estimate, bound = [], []
    for step in range(50, 100):
        threshold = step / 100
        above = confidence >= threshold
        n, errors = int(above.sum()), int(wrong[above].sum())
        if n < MIN_ABOVE:
            break
        estimate.append((threshold, errors / n))
        bound.append((threshold, error_budget.clopper_pearson_upper(errors, n, LEVEL)))
    chosen = choice.threshold
    plot_bottom, plot_right = HEIGHT - BOTTOM, WIDTH - RIGHT
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="13">',
        "<title>Error-budget routing: the lowest threshold whose upper bound fits the budget"
        "</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        # Items at or above the chosen threshold are decided automatically.
        f'<rect x="{_x(chosen):.1f}" y="{TOP}" width="{plot_right - _x(chosen):.1f}" '
        f'height="{plot_bottom - TOP}" fill="#e8f5e9"/>',
        _text(_x(chosen) + 8, TOP + 18, "auto", 'fill="#2e7d32" font-weight="bold"'),
        _text(LEFT + 8, TOP + 18, "below the threshold: a person reviews", 'fill="#555"'),
    ]
    for tick in range(0, 26, 5):
        rate = tick / 100
        parts.append(
            f'<line x1="{LEFT}" x2="{plot_right}" y1="{_y(rate):.1f}" y2="{_y(rate):.1f}" '
            'stroke="#eee"/>'
        )
        parts.append(_text(LEFT - 8, _y(rate) + 4, f"{tick}%", 'text-anchor="end"'))
    for step in range(50, 101, 10):
        threshold = step / 100
        parts.append(
            _text(_x(threshold), plot_bottom + 18, f"{threshold:.1f}", 'text-anchor="middle"')
        )
    parts += [
        f'<line x1="{LEFT}" x2="{plot_right}" y1="{plot_bottom}" y2="{plot_bottom}" '
        'stroke="#333"/>',
        f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{plot_bottom}" stroke="#333"/>',
        _text(
            (LEFT + plot_right) / 2,
            HEIGHT - 18,
            "confidence threshold (items at or above it would go auto)",
            'text-anchor="middle"',
        ),
        _text(
            18,
            (TOP + plot_bottom) / 2,
            "error rate on auto items",
            f'text-anchor="middle" transform="rotate(-90 18 {(TOP + plot_bottom) / 2:.1f})"',
        ),
        f'<line x1="{LEFT}" x2="{plot_right}" y1="{_y(BUDGET):.1f}" y2="{_y(BUDGET):.1f}" '
        'stroke="#c62828" stroke-width="2" stroke-dasharray="6 4"/>',
        _text(
            plot_right - 4,
            _y(BUDGET) - 6,
            f"error budget {BUDGET:.0%}",
            'text-anchor="end" fill="#c62828"',
        ),
        _polyline(estimate, 'stroke="#888" stroke-width="2"'),
        _polyline(bound, 'stroke="#1565c0" stroke-width="2.5"'),
        f'<line x1="{_x(chosen):.1f}" x2="{_x(chosen):.1f}" y1="{TOP}" y2="{plot_bottom}" '
        'stroke="#2e7d32" stroke-width="2"/>',
        _text(
            _x(chosen) - 6,
            plot_bottom - 10,
            f"learned threshold {chosen:.2f}: {choice.coverage:.0%} of items go auto",
            'text-anchor="end" fill="#2e7d32"',
        ),
        _text(LEFT + 8, _y(bound[0][1]) - 8, f"{LEVEL:.0%} upper bound", 'fill="#1565c0"'),
        _text(LEFT + 8, _y(estimate[0][1]) + 16, "estimated error", 'fill="#666"'),
        "</svg>",
    ]
    return "\n".join(parts) + "\n"
