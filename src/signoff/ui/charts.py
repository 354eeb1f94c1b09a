"""Chart geometry for server-rendered inline SVG: bars, stacked bars, lines, horizontal bars.

Python computes coordinates; the `_charts.html` macros draw them. No chart library.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    cls: str
    count: float
    title: str


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    value: float
    title: str


@dataclass
class Chart:
    """Everything a macro needs to draw one chart."""

    width: int = WIDTH
    height: int = HEIGHT
    rects: list[Rect] = field(default_factory=list)
    xticks: list[Tick] = field(default_factory=list)
    yticks: list[Tick] = field(default_factory=list)
    dots: list[Dot] = field(default_factory=list)
    points: str = ""
    labels: list[Tick] = field(default_factory=list)
    empty: bool = True
    x0: float = LEFT
    x1: float = WIDTH - RIGHT
    y0: float = TOP
    y1: float = HEIGHT - BOTTOM


def nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k at or above `value` (at least 1)."""
    if value <= 1:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return float(candidate)
    return float(10 ** (exponent + 1))


def _count(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.3g}"


def tick_count(top: float) -> int:
    """How many intervals split `top` into round steps (1, 2, 2.5 or 5 × 10^k)."""
    for n in (4, 5, 2):
        step = top / n
        exponent = math.floor(math.log10(step))
        mantissa = round(step / 10**exponent, 6)
        if mantissa in (1, 2, 2.5, 5):
            return n
    return 4


def _yticks(chart: Chart, top: float, fmt: Callable[[float], str]) -> None:
    n = tick_count(top)
    for i in range(n + 1):
        value = top * i / n
        chart.yticks.append(Tick(_y(chart, value, top), fmt(value)))


def _y(chart: Chart, value: float, top: float) -> float:
    return chart.y1 - (chart.y1 - chart.y0) * (value / top if top else 0)


def _xlabels(
    chart: Chart, categories: Sequence[str], centers: Sequence[float], max_labels: int = 10
) -> None:
    every = max(1, math.ceil(len(categories) / max_labels))
    for i, (name, x) in enumerate(zip(categories, centers, strict=True)):
        if i % every == 0 or i == len(categories) - 1 and len(categories) <= max_labels:
            chart.xticks.append(Tick(x, name))


def stacked_bars(
    categories: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float]]],
    titles: Sequence[str] | None = None,
) -> Chart:
    """One bar per category, stacking each series (name, css class, values) bottom-up."""
    chart = Chart()
    totals = [sum(s[2][i] for s in series) for i in range(len(categories))]
    top = max(4.0, nice_max(max(totals, default=0)))
    chart.empty = not any(totals)
    _yticks(chart, top, _count)
    slot = (chart.x1 - chart.x0) / max(1, len(categories))
    width = max(1.0, slot * 0.8)
    centers = []
    for i, category in enumerate(categories):
        x = chart.x0 + slot * i + (slot - width) / 2
        centers.append(x + width / 2)
        base = 0.0
        for name, cls, values in series:
            value = float(values[i])
            if value <= 0:
                continue
            y_top, y_base = _y(chart, base + value, top), _y(chart, base, top)
            label = titles[i] if titles else category
            chart.rects.append(
                Rect(
                    round(x, 2),
                    round(y_top, 2),
                    round(width, 2),
                    round(y_base - y_top, 2),
                    cls,
                    value,
                    f"{label}: {_count(value)} {name}",
                )
            )
            base += value
    _xlabels(chart, categories, centers)
    return chart


def line(
    categories: Sequence[str],
    values: Sequence[float | None],
    fmt: Callable[[float], str],
    top: float | None = None,
) -> Chart:
    """A line through the values that exist (None leaves a gap in the dots, not the line)."""
    chart = Chart()
    present = [v for v in values if v is not None]
    chart.empty = not present
    top = top or nice_max(max(present, default=0))
    _yticks(chart, top, fmt)
    slot = (chart.x1 - chart.x0) / max(1, len(categories))
    centers = [chart.x0 + slot * (i + 0.5) for i in range(len(categories))]
    coords = []
    for category, x, value in zip(categories, centers, values, strict=True):
        if value is None:
            continue
        y = _y(chart, value, top)
        coords.append(f"{x:.2f},{y:.2f}")
        chart.dots.append(Dot(round(x, 2), round(y, 2), value, f"{category}: {fmt(value)}"))
    chart.points = " ".join(coords)
    _xlabels(chart, categories, centers)
    return chart


def hbars(rows: Sequence[tuple[str, float, str, str]], fmt: Callable[[float], str]) -> Chart:
    """Horizontal bars (label, value, css class, title), one row each, sharing one scale."""
    row_height = 26
    chart = Chart(height=max(60, TOP + BOTTOM + row_height * len(rows)))
    chart.x0 = 170
    chart.y1 = chart.height - BOTTOM
    top = nice_max(max((r[1] for r in rows), default=0))
    chart.empty = not any(r[1] for r in rows)
    n = tick_count(top)
    for i in range(n + 1):
        value = top * i / n
        x = chart.x0 + (chart.x1 - chart.x0) * value / top
        chart.xticks.append(Tick(round(x, 2), fmt(value)))
    for i, (label, value, cls, title) in enumerate(rows):
        y = chart.y0 + i * row_height + 4
        w = (chart.x1 - chart.x0) * value / top
        chart.rects.append(Rect(chart.x0, y, round(w, 2), row_height - 8, cls, value, title))
        chart.labels.append(Tick(y + (row_height - 8) / 2, label))
    return chart
