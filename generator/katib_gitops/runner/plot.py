"""Parallel coordinates of parameters against the objective, as Katib's UI draws them.

One vertical axis per parameter plus one for the objective; one line per
trial, coloured by its objective value (viridis, brighter is better); the best
trial drawn on top, thicker, in crimson. Numeric parameters get a numeric axis
(log-scaled for logUniform) with a few round-number ticks; categorical ones get
their values spaced evenly, in the spec's order, first at the top. Trials
without an objective (failed, metrics unavailable) are grey dashes.

Drawn with Pillow (a PNG of lines and labels) rather than matplotlib: the chart
is a dozen polylines and their labels, and matplotlib's import and layout cost
the runner 0.6 s of CPU per run, more than a tenth of what the runner adds to
a 10-second search (benchmarks/bench_runner.py). Drawn at twice the size and
scaled down, so lines and text are smooth. The same results give the same
bytes: no timestamp or version goes into the file.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Sequence

from .experiment_view import Parameter, Plan
from .run_records import TrialRecord

PLOT_FILE = "parallel-coordinates.png"
HTML_FILE = "report.html"

# Viridis (the perceptually uniform map by van der Walt and Smith, CC0), at nine evenly spaced points;
# colours in between are interpolated.
VIRIDIS = ((68, 1, 84), (71, 45, 123), (59, 82, 139), (44, 114, 142), (33, 145, 140),
           (40, 174, 128), (94, 201, 98), (173, 220, 48), (253, 231, 37))
BEST = (220, 20, 60)  # crimson
NO_VALUE = (191, 191, 191)
INK = (0, 0, 0)
SCALE = 2  # drawn at twice the size, then scaled down: anti-aliased lines
MAX_TICKS = 6


def _axis(param: Parameter):
    """(position function value->[0,1], tick positions, tick labels) for one parameter.

    Values run top-down in the order a reader reads the spec: the first
    categorical value at the top. Numeric axes without a list of values get
    a few round-number ticks (at most six, short labels), not the trials' raw
    values.
    """
    if param.type in ("int", "double") or (param.type == "discrete" and param.is_numeric_list):
        if param.values:
            numbers = sorted({float(v) for v in param.values})
            lo, hi = numbers[0], numbers[-1]
        else:
            lo, hi = float(param.min), float(param.max)
        log = param.distribution in ("logUniform", "logNormal") and lo > 0
        if param.values and lo > 0 and hi / lo >= 100:
            log = True  # e.g. tol 1e-5..1e-3: a linear axis would crush the small values
        f = (lambda x: math.log10(x)) if log else (lambda x: x)
        span = (f(hi) - f(lo)) or 1.0

        def pos(text: str) -> float:
            return (f(float(text)) - f(lo)) / span if hi != lo else 0.5

        if param.values:
            ticks = list(param.values)
        else:
            ticks = _nice_ticks(lo, hi, log, param.type == "int")
        return pos, [pos(t) for t in ticks], ticks
    values = list(param.values)
    step = 1.0 / (len(values) - 1) if len(values) > 1 else 0.0
    index = {v: i for i, v in enumerate(values)}

    def cat(text: str) -> float:
        return 1.0 - index.get(text, 0) * step if len(values) > 1 else 0.5
    return cat, [cat(v) for v in values], values


def _nice_ticks(lo: float, hi: float, log: bool, integer: bool) -> list[str]:
    """Tick labels inside [lo, hi] where matplotlib would put them: on a linear axis its MaxNLocator with
    steps 1, 2 and 5 times a power of ten (whole numbers for an int axis), at most MAX_TICKS ticks; on a
    log axis its LogLocator's whole decades. The ends themselves when fewer than two fit."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo or (log and lo <= 0):
        return [_short(lo)]
    if log:  # inside the axis as drawn: compared on the log scale
        labels = [_short(t) for t in _log_locator(lo, hi, MAX_TICKS)
                  if _within(math.log10(t), math.log10(lo), math.log10(hi))]
    else:
        ticks, step = _max_n_locator(lo, hi, MAX_TICKS - 1, integer)
        labels = [_label(t, step) for t in ticks if _within(t, lo, hi)]
    if len(labels) < 2:
        labels = [_short(lo), *labels, _short(hi)]
    return list(dict.fromkeys(labels))


# The two locators follow matplotlib's ticker.py (MaxNLocator._raw_ticks with scale_range and _Edge_integer;
# LogLocator.tick_values as of matplotlib 3.10), with its defaults: at least two ticks (min_n_ticks), no pruning,
# no symmetry, major decades only.
STEPS = (1.0, 2.0, 5.0, 10.0)  # a round step is one of these times a power of ten


def _max_n_locator(vmin: float, vmax: float, nbins: int, integer: bool) -> tuple[list[float], float]:
    """Round-number ticks covering [vmin, vmax], at most nbins intervals inside it, and their step."""
    span = vmax - vmin
    middle = (vmax + vmin) / 2
    # Far from zero relative to its width (1000..1001), the range is shifted by a power of ten first.
    offset = 0.0 if abs(middle) / span < 100 else math.copysign(10 ** math.floor(math.log10(abs(middle))), middle)
    scale = 10 ** math.floor(math.log10(span / nbins))
    lo, hi = vmin - offset, vmax - offset
    candidates = [0.1 * s for s in STEPS[:-1]] + list(STEPS) + [10 * STEPS[1]]  # a staircase around the scale
    candidates = [c * scale for c in candidates]
    if integer:
        candidates = [c for c in candidates if c < 1 or abs(c - round(c)) < 0.001]
    wanted = span / nbins
    first = next((i for i, c in enumerate(candidates) if c >= wanted), len(candidates) - 1)
    ticks: list[float] = []
    step = candidates[first]
    # From the smallest step that keeps within nbins down to smaller ones, until at least two ticks fall inside.
    for step in reversed(candidates[:first + 1]):
        if integer and math.floor(hi) - math.ceil(lo) >= 1:
            step = max(1.0, step)
        base = (lo // step) * step
        tolerance = _edge_tolerance(step, offset)
        below, rest = divmod(lo - base, step)
        low = below + 1 if abs(rest / step - 1) < tolerance else below
        above, rest = divmod(hi - base, step)
        high = above if abs(rest / step) < tolerance else above + 1
        ticks = [k * step + base for k in range(int(low), int(high) + 1)]
        if sum(lo <= t <= hi for t in ticks) >= 2:
            break
    return [t + offset for t in ticks], step


def _edge_tolerance(step: float, offset: float) -> float:
    """How close to a multiple of step a value must be to count as one (more slop under a large offset)."""
    if offset == 0:
        return 1e-10
    return min(0.4999, max(1e-10, 10 ** (math.log10(abs(offset) / step) - 12)))


def _log_locator(vmin: float, vmax: float, numticks: int) -> list[float]:
    """Whole decades: as many inside [vmin, vmax] as fit in numticks, evenly strided, plus one beyond each end."""
    lo_exp, hi_exp = math.log10(vmin), math.log10(vmax)
    first, last = math.ceil(lo_exp), math.floor(hi_exp)
    available = last - first + 1  # decades inside the axis
    stride = available // (numticks + 1) + 1  # the fewest decades per tick that leave at most numticks + 1
    wanted = min(numticks, -(-available // stride))
    if wanted == 0:  # no decade inside: one just beyond each end
        return [10.0 ** (first - 1), 10.0 ** (last + 1)]
    if wanted == 1:  # one decade, near the middle
        middle = round((lo_exp + hi_exp) / 2)
        stride = max(middle - (first - 1), (last + 1) - middle)
        return [10.0 ** (middle - stride), 10.0 ** middle, 10.0 ** (middle + stride)]
    # The largest stride that still gives `wanted` ticks (less bare axis at the ends), and where the strided
    # decades start: on multiples of the stride when that fits, else as low as fits.
    stride = (available - 1) // (wanted - 1)
    if stride < available / wanted:
        stride = available // wanted
    low, high = max(available - stride * wanted, 0), min(available - stride * (wanted - 1), stride)
    start = (-first) % stride
    if not low <= start < high:
        start = low
    return [10.0 ** k for k in range(first + start - stride, last + stride + 1, stride)]


def _within(t: float, lo: float, hi: float) -> bool:
    """Inside the axis, with the slack matplotlib allows for rounding (1e-10 of its length)."""
    slack = 1e-10 * (hi - lo)
    return lo - slack <= t <= hi + slack


def _label(x: float, step: float) -> str:
    """A tick's label with the decimals its step needs (0.12345 beside 0.1235) and no float noise (0.3, not
    0.30000000000000004); very large or fine ones in exponent form."""
    if abs(x) < step * 1e-9:
        return "0"  # not "-0" or "1e-17"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if abs(x) < 1e6 and decimals <= 6:
        text = f"{x:.{decimals}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    digits = math.floor(math.log10(abs(x))) - math.floor(math.log10(step) + 1e-9) + 1
    return f"{x:.{min(max(digits, 1), 17)}g}"


def _short(x: float) -> str:
    return f"{x:.3g}"


def _place(position, value) -> float:
    """The value's height on its axis, kept on the axis: a run directory is untrusted, and a value that
    does not parse or fit (edited trials.jsonl) must not stop the report."""
    try:
        y = position(value)
    except (ValueError, TypeError, OverflowError, ZeroDivisionError):
        return 0.0
    return min(1.0, max(0.0, y)) if y == y else 0.0


def _viridis(t: float, reverse: bool = False) -> tuple[int, int, int]:
    t = min(1.0, max(0.0, 1.0 - t if reverse else t)) * (len(VIRIDIS) - 1)
    i = min(int(t), len(VIRIDIS) - 2)
    frac = t - i
    return tuple(round(a + (b - a) * frac) for a, b in zip(VIRIDIS[i], VIRIDIS[i + 1]))


def _dashed(draw, points: list[tuple[float, float]], fill, width: int, dash: float, gap: float) -> None:
    """A dashed polyline (Pillow draws only solid ones); the pattern runs on across corners."""
    on, left = True, dash
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        length = math.hypot(x1 - x0, y1 - y0)
        done = 0.0
        while done < length:
            step = min(left, length - done)
            if on:
                a, b = done / length, (done + step) / length
                draw.line([(x0 + (x1 - x0) * a, y0 + (y1 - y0) * a), (x0 + (x1 - x0) * b, y0 + (y1 - y0) * b)],
                          fill=fill, width=width)
            done += step
            left -= step
            if left <= 1e-9:
                on = not on
                left = dash if on else gap


def parallel_coordinates(plan: Plan, records: Sequence[TrialRecord], path: Path,
                         best: TrialRecord | None = None) -> Path:
    from PIL import Image, ImageDraw, ImageFont

    obj = plan.objective
    params = list(plan.parameters)
    axes_n = len(params) + 1
    width, height = max(600, 190 * axes_n + 150), 480
    left, right, top, bottom = 70, 120, 100, 70  # margins (1x pixels): labels, colour bar, titles, legend
    s = SCALE
    image = Image.new("RGB", (width * s, height * s), "white")
    draw = ImageDraw.Draw(image)

    def font(size: int):
        # Pillow's own scalable font (ASCII and a little more), so no system font is looked up;
        # a Pillow built without FreeType has only its small bitmap font.
        try:
            return ImageFont.load_default(size=size * s)
        except (ImportError, OSError):
            return ImageFont.load_default()

    small, normal, large = font(11), font(13), font(15)
    plot_w, plot_h = width - left - right, height - top - bottom

    def x_of(i: float) -> float:
        return (left + plot_w * i / max(1, axes_n - 1)) * s

    def y_of(v: float) -> float:  # v in [0, 1], 1 at the top; a little room above and below
        return (top + plot_h * (1.0 - (0.04 + 0.92 * v))) * s

    axis_info = [_axis(p) for p in params]
    values = [r.objective for r in records if r.objective is not None]
    vlo, vhi = (min(values), max(values)) if values else (0.0, 1.0)
    vspan = (vhi - vlo) or 1.0

    def shade(value: float) -> tuple[int, int, int]:
        # Brighter is better: the highest value for maximize, the lowest for minimize.
        return _viridis((value - vlo) / vspan if vhi != vlo else 1.0, reverse=not obj.maximize)

    def row(r: TrialRecord) -> list[tuple[float, float]]:
        ys = [_place(info[0], r.parameters.get(p.name)) for p, info in zip(params, axis_info)]
        if r.objective is not None:
            ys.append(_place(lambda v: (v - vlo) / vspan if vhi != vlo else 0.5, r.objective))
        return [(x_of(i), y_of(y)) for i, y in enumerate(ys)]

    for i in range(axes_n):
        draw.line([(x_of(i), y_of(-0.04)), (x_of(i), y_of(1.04))], fill=INK, width=s)
    for r in records:
        if r.objective is None:
            _dashed(draw, row(r), NO_VALUE, 2 * s, 6 * s, 4 * s)
    # Worst first, so the best lines end up on top.
    for r in sorted((r for r in records if r.objective is not None),
                    key=lambda r: r.objective, reverse=not obj.maximize):
        draw.line(row(r), fill=shade(r.objective), width=round(1.5 * s), joint="curve")
    if best is not None and best.objective is not None:
        draw.line(row(best), fill=BEST, width=3 * s, joint="curve")

    for i, (p, info) in enumerate(zip(params, axis_info)):
        for y, label in zip(info[1], info[2]):
            anchor = (x_of(i) - 6 * s, y_of(y))
            box = draw.textbbox(anchor, label, font=small, anchor="rm")
            draw.rounded_rectangle((box[0] - 3 * s, box[1] - 2 * s, box[2] + 3 * s, box[3] + 2 * s),
                                   radius=3 * s, fill="white")
            draw.text(anchor, label, font=small, fill=INK, anchor="rm")
    for frac in (0.0, 0.5, 1.0):
        if values:
            draw.text((x_of(axes_n - 1) + 6 * s, y_of(frac)), _short(vlo + frac * (vhi - vlo)),
                      font=small, fill=INK, anchor="lm")
    for i, name in enumerate([p.name for p in params] + [obj.metric]):
        draw.text((x_of(i), (top - 18) * s), name, font=normal, fill=INK, anchor="ms")
    done = len(values)
    draw.text((width * s / 2, 30 * s),
              f"{plan.name}: {obj.type} {obj.metric} ({done} of {len(records)} trials with a value)",
              font=large, fill=INK, anchor="ms")

    if values:  # the colour bar: what each line's colour means
        x0, x1 = (width - right + 55) * s, (width - right + 70) * s
        y_top, y_bottom = y_of(1.0), y_of(0.0)
        steps = max(1, round(y_bottom - y_top))
        for k in range(steps + 1):
            v = 1.0 - k / steps
            y = y_top + k
            draw.line([(x0, y), (x1, y)], fill=_viridis(v, reverse=not obj.maximize), width=1)
        draw.rectangle((x0, y_top, x1, y_bottom), outline=INK, width=1)
        draw.text(((x0 + x1) / 2, y_top - 14 * s), obj.metric, font=small, fill=INK, anchor="ms")
        draw.text((x1 + 4 * s, y_top), _short(vhi), font=small, fill=INK, anchor="lm")
        draw.text((x1 + 4 * s, y_bottom), _short(vlo), font=small, fill=INK, anchor="lm")
    if best is not None and best.objective is not None:  # the legend
        label = f"best: {best.name}"
        text_w = draw.textlength(label, font=normal)
        x = (width * s - text_w) / 2
        y = (height - 28) * s
        draw.line([(x - 34 * s, y), (x - 6 * s, y)], fill=BEST, width=3 * s)
        draw.text((x, y), label, font=normal, fill=INK, anchor="lm")

    image = image.reduce(s)  # each pixel the mean of the 2x2 drawn: smooth edges
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path


def html_report(plan: Plan, records: Sequence[TrialRecord], png: Path, path: Path,
                summary: str, best: TrialRecord | None) -> Path:
    """A single self-contained page: the plot (inline) and the trials table, best first."""
    obj = plan.objective
    image = base64.b64encode(png.read_bytes()).decode("ascii")
    names = [p.name for p in plan.parameters]

    def key(r: TrialRecord):
        if r.objective is None:
            return (1, 0.0, r.index)
        return (0, -r.objective if obj.maximize else r.objective, r.index)

    rows = []
    for r in sorted(records, key=key):
        cls = ' class="best"' if best is not None and r.name == best.name else ""
        cells = [r.name, r.status] + [r.parameters.get(n, "") for n in names]
        cells.append("" if r.objective is None else repr(r.objective))
        cells.append(f"{r.duration:.1f}")
        cells.append(f'<a href="{html.escape(r.log)}">log</a>' if r.log else "")
        rows.append(f"<tr{cls}>" + "".join(
            f"<td>{c if c.startswith('<a ') else html.escape(c)}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in
                   ["trial", "status", *names, obj.metric, "seconds", ""])
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(plan.name)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 2px 10px; border-bottom: 1px solid #ddd; }}
tr.best {{ background: #fde8e8; font-weight: bold; }} pre {{ background: #f6f6f6; padding: 1em; }}
</style></head><body>
<h1>{html.escape(plan.name)}</h1>
<pre>{html.escape(summary)}</pre>
<img alt="parallel coordinates" src="data:image/png;base64,{image}">
<table><thead><tr>{head}</tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table></body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path
