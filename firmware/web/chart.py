"""A line chart of one code's last hours as inline SVG, drawn on the server: it needs
no JavaScript and no chart library, and prints as it shows.  Gaps (missing readings)
break the line."""

from __future__ import annotations

import math

from markupsafe import Markup, escape

from shared import civil

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 28


def _nice(lo: float, hi: float) -> tuple[float, float]:
    if lo == hi:
        pad = abs(lo) * 0.05 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def _label(v: float) -> str:
    return ('%.6g' % v) if abs(v) < 1e6 else ('%.4g' % v)


def svg(series: list[tuple[int, float]], unit: str, utc_offset_s: int, title: str) -> Markup:
    finite = [(t, v) for t, v in series if not math.isnan(v)]
    if not finite:
        return Markup('')
    t0, t1 = series[0][0], max(series[-1][0], series[0][0] + 60_000)
    lo, hi = _nice(min(v for _, v in finite), max(v for _, v in finite))
    w, h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: int) -> float:
        return LEFT + (t - t0) / (t1 - t0) * w

    def y(v: float) -> float:
        return TOP + (hi - v) / (hi - lo) * h

    lines, run = [], []
    for t, v in series:
        if math.isnan(v):
            if run:
                lines.append(run)
            run = []
        else:
            run.append('%.1f,%.1f' % (x(t), y(v)))
    if run:
        lines.append(run)
    parts = ['<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">'
             % (WIDTH, HEIGHT, escape(title))]
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        parts.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>' % (LEFT, WIDTH - RIGHT, y(v), y(v)))
        parts.append('<text x="%d" y="%.1f" class="axis" text-anchor="end">%s</text>'
                     % (LEFT - 6, y(v) + 4, escape(_label(v))))
    for i in range(5):
        t = t0 + (t1 - t0) * i // 4
        parts.append('<text x="%.1f" y="%d" class="axis" text-anchor="middle">%s</text>'
                     % (x(t), HEIGHT - 8, civil.local_iso(t, utc_offset_s)[11:16]))
    parts.append('<text x="%d" y="%d" class="axis unit">%s</text>' % (LEFT + 4, TOP + 12, escape(unit)))
    for run in lines:
        if len(run) == 1:
            cx, cy = run[0].split(',')
            parts.append('<circle cx="%s" cy="%s" r="2.5" class="line-dot"/>' % (cx, cy))
        else:
            parts.append('<polyline points="%s" class="line"/>' % ' '.join(run))
    parts.append('</svg>')
    return Markup(''.join(parts))
