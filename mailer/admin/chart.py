"""Geometry of the dashboard's inline SVG charts (pure: numbers in, coordinates out).

The template draws them with `currentColor`, opacity and outlines only: no style
attribute or <style> element (the CSP allows stylesheets from 'self' only), readable in
light and dark mode, and the series differ by shape, not by colour alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from mailer.admin.stats import History

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 72, 12, 32, 40  # room for the axis labels and the legend
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str  # the tooltip: week and value


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    title: str


@dataclass
class Chart:
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    bars: list[list[Bar]] = field(default_factory=list)  # one list per bar series
    line: list[Point] = field(default_factory=list)
    # The frame, for the template: the plot spans x in [left, right], y in [top, baseline].
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    baseline: int = TOP + PLOT_H

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.line)


def nice_max(value: int) -> int:
    """The smallest 1, 2 or 5 × 10^k at or above `value` (at least 1)."""
    if value <= 1:
        return 1
    scale = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * scale >= value:
            return step * scale
    raise AssertionError("unreachable")


def _y_ticks(top: int) -> list[Tick]:
    steps = 4 if top % 4 == 0 or top < 4 else 5
    steps = min(steps, top)
    return [Tick(_y(top * i / steps, top), f"{round(top * i / steps):,}") for i in range(steps + 1)]


def _y(value: float, top: int) -> float:
    return TOP + PLOT_H - value / top * PLOT_H


def _x_ticks(weeks: Sequence[date], slot: float) -> list[Tick]:
    """A label every fourth week, ending on the current one."""
    last = len(weeks) - 1
    return [
        Tick(LEFT + (i + 0.5) * slot, f"{d.day} {d:%b}")
        for i, d in enumerate(weeks)
        if (last - i) % 4 == 0
    ]


def _bars(
    values: Sequence[int],
    top: int,
    slot: float,
    index: int,
    of: int,
    name: str,
    weeks: Sequence[date],
) -> list[Bar]:
    width = slot * 0.7 / of
    bars = []
    for i, (value, monday) in enumerate(zip(values, weeks, strict=True)):
        x = LEFT + i * slot + slot * 0.15 + index * width
        y = _y(value, top)
        bars.append(Bar(x, y, width, TOP + PLOT_H - y, f"Week of {monday}: {value:,} {name}"))
    return bars


def growth_chart(history: History) -> Chart:
    """Confirmed subscriptions at each week's end (line) and messages sent (bars)."""
    weeks = [w.start for w in history.weeks]
    slot = PLOT_W / len(weeks)
    top = nice_max(max(max(w.confirmed, w.sent) for w in history.weeks))
    chart = Chart(_x_ticks(weeks, slot), _y_ticks(top))
    chart.bars.append(_bars([w.sent for w in history.weeks], top, slot, 0, 1, "sent", weeks))
    chart.line = [
        Point(LEFT + (i + 0.5) * slot, _y(w.confirmed, top), f"{w.start}: {w.confirmed:,}")
        for i, w in enumerate(history.weeks)
    ]
    return chart


def churn_chart(history: History) -> Chart:
    """New confirmations (filled bars) beside unsubscribes (outlined bars), per week."""
    weeks = [w.start for w in history.weeks]
    slot = PLOT_W / len(weeks)
    top = nice_max(max(max(w.confirmations, w.unsubscribes) for w in history.weeks))
    chart = Chart(_x_ticks(weeks, slot), _y_ticks(top))
    confirmations = [w.confirmations for w in history.weeks]
    unsubscribes = [w.unsubscribes for w in history.weeks]
    chart.bars.append(_bars(confirmations, top, slot, 0, 2, "new confirmations", weeks))
    chart.bars.append(_bars(unsubscribes, top, slot, 1, 2, "unsubscribes", weeks))
    return chart
