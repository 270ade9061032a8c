"""Small PNG charts of a question's probability history (matplotlib, Agg backend, no pyplot)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from .scoring import HistoryPoint

# Okabe-Ito: told apart by colour-blind readers too; the report's legend uses the same order.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000",
           "#F0E442")
WIDTH_PX, HEIGHT_PX, DPI = 640, 200, 100


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
    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.07, 0.14, 0.91, 0.82))
    shown = [p for p in points if p.at <= until] or list(points[:1])
    if since is not None and shown[0].at < since:
        # The window opens with the forecast in force at its start.
        earlier = [p for p in shown if p.at <= since]
        shown = [replace(earlier[-1], at=since)] + [p for p in shown if p.at > since]
    times = [float(date2num(t)) for t in [p.at for p in shown] + [until]]
    if period is not None:
        ax.axvspan(float(date2num(period[0])), float(date2num(min(period[1], until))),
                   color="#f2dfa7", alpha=0.8, lw=0)
    for i, sid in enumerate(scenarios):
        values = [p.probabilities.get(sid, 0.0) for p in shown]
        ax.step(times, [*values, values[-1]], where="post", color=colour(i), lw=1.8)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(times[0], times[-1])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1])
    locator = AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.tick_params(labelsize=8, colors="#444444")
    ax.grid(axis="y", color="#dddddd", lw=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    buf = io.BytesIO()
    # No Software/date metadata: the same history gives the same bytes.
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()
