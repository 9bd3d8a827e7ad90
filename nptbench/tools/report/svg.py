"""How nptbench draws: SVG written as text, with no plotting library, for the report and the dashboard alike.

One set of colours, one log axis with round ticks, one way to keep labels from overlapping. SVG rather than
a plotting library, so that ``nptbench report`` and ``nptbench history --out`` both work in the environment
the README's first command makes (numpy, torch, numba, pytest: nothing that draws); the HTML pages hold the
SVG inline, so a point's tooltip (its file, its value) shows on hover.

A :class:`Canvas` collects elements in drawing order; a :class:`Scale` maps data to pixels, on a log axis or
a linear one; :func:`axes` draws a frame with its grid and tick labels; :func:`place_labels` moves labels down
until they overlap no label placed before.
"""
from __future__ import annotations

import html
import math

# One set of colours for every plot.
SLOWER, FASTER, LEVEL, POINT, CHANGE, SHARED = "#d62728", "#2ca02c", "#1f77b4", "#555", "#999", "#777"
INK, MUTED, GRID = "#222", "#555", "#eee"
BACKEND_COLORS = {"python": "#8c564b", "numpy": "#1f77b4", "torch": "#ff7f0e", "numba": "#2ca02c"}
OTHER = "#7f7f7f"
# Twenty distinct colours for categories (experiments), in order.
CATEGORY = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
            "#dbdb8d", "#9edae5")

CHAR_WIDTH = 0.6  # a character's width in sans-serif, as a share of the font size: enough for digits and caps


def text_width(text: str, size: float) -> float:
    return len(text) * size * CHAR_WIDTH


def log_ticks(lo: float, hi: float) -> list[float]:
    """Three to six round values between lo and hi (> 0), for a log axis: the roundest that give at least
    three."""
    out: list[float] = []
    for mantissas in ((1,), (1, 2, 5), (1, 1.5, 2, 3, 5, 7), (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9),
                      tuple(round(1 + 0.1 * k, 1) for k in range(90))):
        out = [m * 10 ** e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
               for m in mantissas if lo <= m * 10 ** e <= hi]
        if len(out) >= 3:
            return out[::math.ceil(len(out) / 6)]
    return out or [lo, hi]


class Scale:
    """Data in [lo, hi] to pixels in [a, b] (b < a for a y axis, which grows upward); log or linear."""

    def __init__(self, lo: float, hi: float, a: float, b: float, log: bool = True):
        self.lo, self.hi, self.a, self.b, self.log = lo, hi, a, b, log

    def __call__(self, v: float) -> float:
        f = math.log if self.log else (lambda u: u)
        span = f(self.hi) - f(self.lo)
        share = (f(v) - f(self.lo)) / span if span else 0.5
        return self.a + (self.b - self.a) * share

    def ticks(self) -> list[float]:
        """Round values to label a log axis (a linear one is labelled by its caller)."""
        return log_ticks(self.lo, self.hi) if self.log else []


def _attrs(**kw) -> str:
    """SVG attributes from keywords (``_`` becomes ``-``; None is left out)."""
    return "".join(f" {k.rstrip('_').replace('_', '-')}='{html.escape(str(v), quote=True)}'"
                   for k, v in kw.items() if v is not None)


def _num(v: float) -> str:
    return f"{v:.1f}"


class Canvas:
    """An SVG document built element by element, in drawing order."""

    def __init__(self, width: float, height: float, font_size: float = 11):
        self.width, self.height = width, height
        self.parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width:g}' height='{height:g}' "
                      f"viewBox='0 0 {width:g} {height:g}' font-family='sans-serif' font-size='{font_size:g}'>",
                      f"<rect x='0' y='0' width='{width:g}' height='{height:g}' fill='white'/>"]

    def _add(self, element: str, title: str | None) -> None:
        self.parts.append(f"<g><title>{html.escape(title)}</title>{element}</g>" if title else element)

    def line(self, x1, y1, x2, y2, color=INK, width=1.0, dash=None, opacity=None, title=None) -> None:
        self._add(f"<line x1='{_num(x1)}' y1='{_num(y1)}' x2='{_num(x2)}' y2='{_num(y2)}'"
                  + _attrs(stroke=color, stroke_width=f"{width:g}", stroke_dasharray=dash, opacity=opacity)
                  + "/>", title)

    def polyline(self, points, color=INK, width=1.0, dash=None) -> None:
        pts = " ".join(f"{_num(x)},{_num(y)}" for x, y in points)
        self._add(f"<polyline points='{pts}' fill='none'"
                  + _attrs(stroke=color, stroke_width=f"{width:g}", stroke_dasharray=dash) + "/>", None)

    def polygon(self, points, fill, opacity=None) -> None:
        pts = " ".join(f"{_num(x)},{_num(y)}" for x, y in points)
        self._add(f"<polygon points='{pts}'" + _attrs(fill=fill, fill_opacity=opacity) + "/>", None)

    def rect(self, x, y, w, h, fill, title=None) -> None:
        self._add(f"<rect x='{_num(x)}' y='{_num(y)}' width='{_num(w)}' height='{_num(h)}'" + _attrs(fill=fill)
                  + "/>", title)

    def marker(self, x, y, fill, shape="circle", r=3.0, stroke=None, stroke_width=0.6, title=None) -> None:
        """A point: a circle, or a triangle pointing up (``shape="triangle"``)."""
        style = _attrs(fill=fill, stroke=stroke, stroke_width=f"{stroke_width:g}" if stroke else None)
        if shape == "triangle":
            h = r * 1.25
            pts = f"{_num(x)},{_num(y - h)} {_num(x - h)},{_num(y + h * 0.8)} {_num(x + h)},{_num(y + h * 0.8)}"
            self._add(f"<polygon points='{pts}'{style}/>", title)
        else:
            self._add(f"<circle cx='{_num(x)}' cy='{_num(y)}' r='{r:g}'{style}/>", title)

    def text(self, x, y, words: str, anchor=None, color=None, size=None, bold=False, title=None) -> None:
        self._add(f"<text x='{_num(x)}' y='{_num(y)}'" + _attrs(text_anchor=anchor, fill=color, font_size=size,
                                                                font_weight="bold" if bold else None)
                  + f">{html.escape(words)}</text>", title)

    def legend(self, x, y, items, size=10) -> None:
        """Entries top-down from (x, y): each (label, colour, kind) with kind "box", "circle", "hollow",
        "triangle", "line" or "dash"."""
        for k, (label, color, kind) in enumerate(items):
            cy = y + k * (size + 5)
            if kind == "box":
                self.rect(x, cy - size * 0.45, 12, size * 0.9, color)
            elif kind in ("line", "dash", "thin"):
                self.line(x, cy, x + 14, cy, color, 1 if kind == "thin" else 2, "5,3" if kind == "dash" else None)
            elif kind == "hollow":
                self.marker(x + 6, cy, "white", stroke=color, stroke_width=1.2, r=3.5)
            else:
                self.marker(x + 6, cy, color, shape=kind, stroke="black", r=3.5)
            self.text(x + 18, cy + size * 0.35, label, size=size)

    def render(self) -> str:
        return "\n".join(self.parts + ["</svg>"])


def axes(c: Canvas, x: Scale, y: Scale, fmt_x=None, fmt_y=None, x_label=None, y_label=None) -> None:
    """A frame: the left and bottom axes, grid lines and labels at each scale's ticks (a formatter of None
    leaves that axis without ticks), and the axes' titles."""
    left, right, top, bottom = min(x.a, x.b), max(x.a, x.b), min(y.a, y.b), max(y.a, y.b)
    if fmt_y:
        for v in y.ticks():
            c.line(left - 4, y(v), right, y(v), GRID)
            c.text(left - 6, y(v) + 4, fmt_y(v), anchor="end")
    if fmt_x:
        for v in x.ticks():
            c.line(x(v), top, x(v), bottom + 4, GRID)
            c.text(x(v), bottom + 16, fmt_x(v), anchor="middle")
    c.line(left, bottom, right, bottom, "#333")
    c.line(left, top, left, bottom, "#333")
    if x_label:
        c.text((left + right) / 2, bottom + 32, x_label, anchor="middle", color=MUTED)
    if y_label:
        c.parts.append(f"<text x='14' y='{_num((top + bottom) / 2)}' text-anchor='middle' fill='{MUTED}' "
                       f"transform='rotate(-90 14 {_num((top + bottom) / 2)})'>{html.escape(y_label)}</text>")


def place_labels(c: Canvas, points, size: float = 8) -> None:
    """Label each (x, y, text) in pixels right of its point, moved down until it overlaps no label placed
    before (the highest first), with a thin leader line where a label had to move."""
    line_h = size * 1.25
    placed: list[tuple[float, float, float]] = []  # (left, top, width) of each label so far
    for px, py, words in sorted(points, key=lambda p: p[1]):
        left, top, width = px + 6, py - line_h / 2, text_width(words, size)
        for _ in range(40):
            if not any(left < pl + pw and pl < left + width and top < pt + line_h and pt < top + line_h
                       for pl, pt, pw in placed):
                break
            top += line_h * 0.8
        placed.append((left, top, width))
        if top - (py - line_h / 2) > 2:
            c.line(px, py, left, top + line_h / 2, "#999", 0.4)
        c.text(left, top + line_h * 0.75, words, size=size, color=INK)
