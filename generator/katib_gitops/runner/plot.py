"""Parallel coordinates of parameters against the objective, as Katib's UI draws them.

One vertical axis per parameter plus one for the objective; one line per
trial, coloured by its objective value; the best trial drawn on top and
thicker. Numeric parameters get a numeric axis (log-scaled for logUniform);
categorical ones get their values spaced evenly, in the spec's order.
Trials without an objective (failed, metrics unavailable) are grey dashes.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Sequence

from .plan import Parameter, Plan
from .results import TrialRecord

PLOT_FILE = "parallel-coordinates.png"
HTML_FILE = "report.html"


def _axis(param: Parameter, records: Sequence[TrialRecord]):
    """(position function value->[0,1], tick positions, tick labels) for one parameter.

    Values run top-down in the order a reader reads the spec: the first
    categorical value at the top. Numeric axes without a list of values get
    matplotlib's "nice" ticks (at most six, short labels), not the trials' raw
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
    from matplotlib.ticker import LogLocator, MaxNLocator

    if hi <= lo:
        return [_short(lo)]
    locator = LogLocator(numticks=6) if log else MaxNLocator(nbins=5, integer=integer)
    eps = (hi - lo) * 1e-9
    inside = [t for t in locator.tick_values(lo, hi) if lo - eps <= t <= hi + eps]
    ticks = [lo, *inside, hi] if len(inside) < 2 else inside
    return list(dict.fromkeys(_short(t) for t in ticks))


def _short(x: float) -> str:
    return f"{x:.3g}"


def parallel_coordinates(plan: Plan, records: Sequence[TrialRecord], path: Path,
                         best: TrialRecord | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import cm, colors
    from matplotlib import pyplot as plt

    obj = plan.objective
    params = list(plan.parameters)
    axes_n = len(params) + 1
    fig, ax = plt.subplots(figsize=(max(6.0, 1.9 * axes_n + 1.5), 4.8), dpi=100)
    try:
        axis_info = [_axis(p, records) for p in params]
        values = [r.objective for r in records if r.objective is not None]
        if values:
            vlo, vhi = min(values), max(values)
        else:
            vlo, vhi = 0.0, 1.0
        vspan = (vhi - vlo) or 1.0
        norm = colors.Normalize(vmin=vlo, vmax=vhi if vhi != vlo else vlo + 1e-12)
        cmap = matplotlib.colormaps["viridis" if obj.maximize else "viridis_r"]
        xs = list(range(axes_n))

        def ys(r: TrialRecord) -> list[float]:
            row = [info[0](r.parameters[p.name]) for p, info in zip(params, axis_info)]
            row.append((r.objective - vlo) / vspan if r.objective is not None and vhi != vlo
                       else 0.5 if r.objective is not None else 0.0)
            return row

        for r in records:
            if r.objective is None:
                ax.plot(xs[:-1], ys(r)[:-1], color="0.75", linestyle="--", linewidth=1, zorder=1)
        for r in sorted((r for r in records if r.objective is not None),
                        key=lambda r: r.objective, reverse=not obj.maximize):
            ax.plot(xs, ys(r), color=cmap(norm(r.objective)), linewidth=1.5, alpha=0.85, zorder=2)
        if best is not None and best.objective is not None:
            ax.plot(xs, ys(best), color="crimson", linewidth=3, zorder=3, label=f"best: {best.name}")
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False, fontsize=9)

        for i, (p, info) in enumerate(zip(params, axis_info)):
            ax.axvline(i, color="black", linewidth=1, zorder=0)
            for y, label in zip(info[1], info[2]):
                ax.text(i - 0.04, y, label, ha="right", va="center", fontsize=8, zorder=4,
                        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none",
                              "alpha": 0.8})
        ax.axvline(axes_n - 1, color="black", linewidth=1, zorder=0)
        for frac in (0.0, 0.5, 1.0):
            ax.text(axes_n - 1 + 0.04, frac, _short(vlo + frac * (vhi - vlo)) if values else "",
                    ha="left", va="center", fontsize=8, zorder=4)
        ax.set_xticks(xs, [p.name for p in params] + [obj.metric], fontsize=10)
        ax.set_xlim(-0.6, axes_n - 1 + 0.6)
        ax.set_ylim(-0.05, 1.05)
        ax.set_yticks([])
        for side in ("left", "right", "top", "bottom"):
            ax.spines[side].set_visible(False)
        ax.xaxis.set_ticks_position("top")
        done = sum(1 for r in records if r.objective is not None)
        ax.set_title(f"{plan.name}: {obj.type} {obj.metric} ({done} of {len(records)} trials with a value)",
                     fontsize=11, pad=24)
        if values:
            fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.01, fraction=0.025,
                         label=obj.metric)
        # Fixed margins rather than tight_layout(), which draws the figure twice.
        fig.subplots_adjust(left=0.05, right=0.95, top=0.80, bottom=0.14)
        path.parent.mkdir(parents=True, exist_ok=True)
        # No timestamp or version in the PNG, so the same results give the same bytes.
        fig.savefig(path, format="png", metadata={"Software": None})
    finally:
        plt.close(fig)
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
