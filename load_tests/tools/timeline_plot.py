"""The timeline plot of one run: p50/p99 per second (log scale) over sent/ok/error bars, events as vertical lines."""

from __future__ import annotations

import math
import re
from pathlib import Path

from load_tests.generator.timeline import ERROR_KINDS

_VERSION_STAMP = re.compile(r"-\d{8}T\d{6}Z")
_ERROR_COLOURS = {"timeout": "tab:red", "429": "tab:orange", "503": "tab:purple", "5xx": "tab:brown",
                  "connection": "black", "other": "tab:gray"}


def _short(label: str) -> str:
    """A label without the timestamps of version names (`v000002-20261202T005552Z` → `v000002`)."""
    return _VERSION_STAMP.sub("", label)[:48]


def _two_and_five(value: float, _pos) -> str:
    """Minor tick labels of a log axis at 2× and 5× only (all of them crowd the axis)."""
    if value <= 0:
        return ""
    mantissa = round(value / 10 ** math.floor(math.log10(value)), 6)
    return f"{value:g}" if mantissa in (2.0, 5.0) else ""


def plot_timeline(timeline: dict, path: Path, title: str = "Latency over time") -> Path:
    """Draw `timeline` (the `to_dict()` form) into the PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rows = timeline["seconds"]
    t = [r["t"] + 0.5 for r in rows]
    fig, (ax, bars) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    with_ok = [r for r in rows if r["ok"]]
    ax.plot([r["t"] + 0.5 for r in with_ok], [max(r["p50_ms"], 1e-3) for r in with_ok], label="p50", lw=1.2)
    ax.plot([r["t"] + 0.5 for r in with_ok], [max(r["p99_ms"], 1e-3) for r in with_ok], label="p99", lw=1.2)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.FuncFormatter(_two_and_five))
    ax.set_ylabel("latency of OK (ms)")
    ax.set_title(title)

    bars.bar(t, [r["sent"] for r in rows], width=1.0, color="tab:blue", alpha=0.25, label="sent")
    bars.plot(t, [r["ok"] for r in rows], color="tab:green", lw=1.2, label="ok")
    bottom = [0] * len(rows)
    for kind in ERROR_KINDS:
        vals = [r["errors"].get(kind, 0) for r in rows]
        if any(vals):
            bars.bar(t, vals, width=1.0, bottom=bottom, color=_ERROR_COLOURS[kind], label=kind)
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    bars.set_ylabel("requests / s")
    bars.set_xlabel("seconds since start (requests by scheduled time)")

    for ev in timeline.get("events", []):
        seen = ev["source"] == "seen"
        colour = "tab:olive" if seen else "tab:red"
        for a in (ax, bars):
            a.axvline(ev["t"], color=colour, ls=":" if seen else "--", lw=1)
        # told events label from the top, seen ones (version changes) from the bottom, so they overlap less
        ax.annotate(_short(ev["label"]), (ev["t"], 0.02 if seen else 0.98), xycoords=("data", "axes fraction"),
                    rotation=90, fontsize=7, va="bottom" if seen else "top", ha="right", xytext=(-2, 0),
                    textcoords="offset points", color=colour)
    ax.legend(loc="upper left", fontsize=8)
    bars.legend(loc="upper left", fontsize=7, ncol=4)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
