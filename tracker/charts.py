"""Small PNG charts of a question's probability history (matplotlib, Agg backend, no pyplot)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from .forecast import HistoryPoint
from .text import pct

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# Okabe-Ito: told apart by colour-blind readers too; the report's legend uses the same order.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000",
           "#F0E442")
# The chart's size in CSS pixels, drawn at twice the density: sharp on high-density screens,
# and its 11 pt labels stay over 9 px tall when a phone shows it 400 px wide.
WIDTH_PX, HEIGHT_PX, DPI, DENSITY = 480, 200, 100, 2
LABEL_PT = 11
# Drawn in order, each thinner than the last, so a line on top of another leaves it visible.
LINE_WIDTHS = (3.2, 2.4, 1.7, 1.2)
LINE_STYLES = ("-", "--", "-.", ":")


def colour(index: int) -> str:
    """The colour of the index-th scenario of a question, in the chart and in the legend."""
    return PALETTE[index % len(PALETTE)]


def history_chart(
    points: Sequence[HistoryPoint],
    scenarios: Sequence[str],
    until: datetime,
    period: tuple[datetime, datetime] | None = None,
    since: datetime | None = None,
) -> bytes:
    """A step chart of each scenario's probability from `since` (else the first point) to
    `until`, as PNG.

    No text from YAML or feeds is drawn (matplotlib would read `$...$` as maths); the legend
    lives in the report beside the chart."""
    # matplotlib is loaded when a chart is first drawn, not when the report code is imported:
    # `tracker --help` and every command's help load each command's module (0.3 s of 0.5 s).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    # Margins for the labels: percentages left, end values right, dates and the year below.
    ax = fig.add_axes((0.14, 0.25, 0.72, 0.71))
    shown = [p for p in points if p.at <= until] or list(points[:1])
    if since is not None and shown[0].at < since:
        # The window opens with the forecast in force at its start.
        earlier = [p for p in shown if p.at <= since]
        shown = [replace(earlier[-1], at=since)] + [p for p in shown if p.at > since]
    times = [float(date2num(t)) for t in [p.at for p in shown] + [until]]
    if period is not None:
        ax.axvspan(float(date2num(period[0])), float(date2num(min(period[1], until))),
                   color="#f2dfa7", alpha=0.8, lw=0)
    ends: list[tuple[float, int]] = []
    for i, sid in enumerate(scenarios):
        values = [p.probabilities.get(sid, 0.0) for p in shown]
        ax.step(times, [*values, values[-1]], where="post", color=colour(i),
                lw=LINE_WIDTHS[min(i, len(LINE_WIDTHS) - 1)],
                ls=LINE_STYLES[i % len(LINE_STYLES)])
        ends.append((values[-1], i))
    _end_labels(ax, ends)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(times[0], times[-1])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1])
    locator = AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.tick_params(labelsize=LABEL_PT, colors="#444444")
    ax.xaxis.get_offset_text().set_fontsize(LABEL_PT)
    ax.grid(axis="y", color="#dddddd", lw=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    buf = io.BytesIO()
    # No Software/date metadata: the same history gives the same bytes.
    fig.savefig(buf, format="png", dpi=DPI * DENSITY, metadata={"Software": None})
    return buf.getvalue()


def _end_labels(ax: Axes, ends: list[tuple[float, int]]) -> None:
    """Each scenario's last value right of the chart in its colour, nudged apart so that
    lines ending at 2 % and 3 % still read as two."""
    gap = 0.11
    placed: list[float] = []
    for value, _ in sorted(ends):
        y = max(value, placed[-1] + gap) if placed else value
        placed.append(y)
    top = 1.0
    for k in range(len(placed) - 1, -1, -1):  # pushed back down from the top if need be
        placed[k] = min(placed[k], top)
        top = placed[k] - gap
    for y, (value, i) in zip(placed, sorted(ends), strict=True):
        # one decimal, rounded as everywhere in the report (text.pct): "28.5%", not "28%"
        ax.annotate(pct(value), xy=(1.0, value), xycoords=("axes fraction", "data"),
                    xytext=(1.015, y), textcoords=("axes fraction", "data"), va="center",
                    fontsize=LABEL_PT - 1, color=colour(i), annotation_clip=False)
