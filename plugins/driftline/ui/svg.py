"""Inline SVG line charts (no JavaScript, no chart library): time on x, one polyline per series."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from html import escape

Point = tuple[dt.datetime, float]
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def line_chart(
    series: Mapping[str, Sequence[Point]],
    *,
    title: str,
    width: int = 640,
    height: int = 220,
    y_range: tuple[float, float] | None = None,
    reference: tuple[str, float] | None = None,
) -> str:
    """An SVG chart of `series` ({label: [(time, value)]}); `reference` draws a labelled dashed line."""
    points = [p for values in series.values() for p in values]
    if not points:
        return f'<p class="empty">{escape(title)}: no points recorded yet</p>'
    left, right, top, bottom = 60, 150, 24, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    t0 = min(p[0] for p in points).timestamp()
    t1 = max(p[0] for p in points).timestamp()
    values = [p[1] for p in points] + ([reference[1]] if reference else [])
    lo, hi = y_range if y_range else (min(values), max(values))
    if hi - lo < 1e-12:  # a flat series: centre it with a margin of 10% of its value
        pad = abs(hi) * 0.1 or 0.5
        lo, hi = lo - pad, hi + pad

    def x(t: dt.datetime) -> float:
        return left + (plot_w * (t.timestamp() - t0) / (t1 - t0) if t1 > t0 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - lo) / (hi - lo))

    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{left}" y="14" class="title">{escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="frame"/>',
        f'<text x="{left - 4}" y="{top + 4}" class="axis" text-anchor="end">{_fmt(hi)}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" class="axis" text-anchor="end">{_fmt(lo)}</text>',
        f'<text x="{left}" y="{height - 8}" class="axis">{dt.datetime.fromtimestamp(t0, dt.UTC):%Y-%m-%d}</text>',
        f'<text x="{left + plot_w}" y="{height - 8}" class="axis" text-anchor="end">'
        f"{dt.datetime.fromtimestamp(t1, dt.UTC):%Y-%m-%d}</text>",
    ]
    if reference:
        ry = y(reference[1])
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{ry:.1f}" y2="{ry:.1f}" class="reference"/>'
            f'<text x="{left + plot_w + 4}" y="{ry + 4:.1f}" class="axis">{escape(reference[0])}</text>'
        )
    for i, (label, values_) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        ordered = sorted(values_)
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in ordered)
        if len(ordered) > 1:
            parts.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>')
        for t, v in ordered:
            parts.append(
                f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="3" fill="{color}">'
                f"<title>{escape(label)} {t:%Y-%m-%d %H:%M}: {_fmt(v)}</title></circle>"
            )
        ly = top + 12 + 14 * i
        if ly < top + plot_h:
            parts.append(
                f'<rect x="{left + plot_w + 8}" y="{ly - 8}" width="10" height="3" fill="{color}"/>'
                f'<text x="{left + plot_w + 22}" y="{ly - 4}" class="legend">{escape(label[:22])}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def sparkline(values: Sequence[Point], *, width: int = 120, height: int = 28, title: str = "") -> str:
    """A tiny chart for a table cell (no axes); '-' when there are no points."""
    if not values:
        return "&ndash;"
    ordered = sorted(values)
    vs = [v for _, v in ordered]
    lo, hi = min(vs), max(vs)
    span = hi - lo if hi - lo > 1e-12 else 1.0
    step = (width - 4) / (len(ordered) - 1) if len(ordered) > 1 else 0.0
    coords = " ".join(
        f"{2 + i * step:.1f},{height - 3 - (height - 6) * (v - lo) / span:.1f}" for i, v in enumerate(vs)
    )
    label = escape(f"{title}: {_fmt(vs[0])} -> {_fmt(vs[-1])} (min {_fmt(lo)}, max {_fmt(hi)})")
    return (
        f'<svg class="spark" width="{width}" height="{height}" role="img" aria-label="{label}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{label}</title>'
        f'<polyline points="{coords}" fill="none" stroke="#1f77b4" stroke-width="1.5"/></svg>'
    )
