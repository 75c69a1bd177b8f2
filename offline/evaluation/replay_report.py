"""The auction replay's report: sweeps and the grid run (`auction_replay`), the settings recommended per goal,
`replay.json`, `report.md` and PNG plots of revenue against the Bad share."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common.machine import cpu_summary
from offline.evaluation.auction_replay import Setting, grid, pick, replay
from offline.evaluation.replay_inputs import ReplayData

PLOT_MODELS = ("teacher", "student_kd", "student_labels", "cdssm", "tfidf")
SERVED = "student_kd"
PREVIOUS = Setting(0.5, 0.0, None)  # the service's defaults before the first replay


@dataclass
class ReplayOptions:
    weights: list[float] = field(default_factory=lambda: [0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0])
    floors: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    reserves: list[float | None] = field(default_factory=lambda: [None, -0.01, 0.0, 0.01, 0.02, 0.04])
    top_k: int = 3
    grid_models: list[str] | None = None  # None: the plotted models the data has
    bad_share_caps: list[float] = field(default_factory=lambda: [0.3, 0.2, 0.1])
    default_cap: float = 0.2  # the goal the service's defaults follow

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ValueError(f"--top-k must be at least 1 (got {self.top_k})")
        if self.default_cap not in self.bad_share_caps:
            self.bad_share_caps = sorted({*self.bad_share_caps, self.default_cap}, reverse=True)


def run_replay(data: ReplayData, opt: ReplayOptions) -> dict:
    """Sweeps of w (floor 0, reserve 0) and of the floor (w 0, no reserve) for every model, the full grid for
    the grid models, and the setting each goal picks from the served student's grid."""
    models = list(data.relevance)
    grid_models = opt.grid_models or [m for m in PLOT_MODELS if m in models] or models
    served = SERVED if SERVED in grid_models else grid_models[0]
    w_sweep = replay(data, models, [Setting(w, 0.0, 0.0) for w in opt.weights], opt.top_k)
    floor_sweep = replay(data, models, [Setting(0.0, f, None) for f in opt.floors], opt.top_k)
    rows = replay(data, grid_models, grid(opt.weights, opt.floors, opt.reserves), opt.top_k)
    goals = {}
    for m in grid_models:
        mine = [r for r in rows if r["model"] == m]
        goals[m] = {"revenue": pick(mine, None),
                    **{f"bad_share<={c:g}": pick(mine, c) for c in opt.bad_share_caps}}
    previous = replay(data, [served], [PREVIOUS], opt.top_k)[0]
    chosen = goals[served][f"bad_share<={opt.default_cap:g}"]
    reserve_curve = []
    if chosen is not None:
        # the grid's reserves and a finer sweep from −0.04 to 0.08 (scores are bid·pClick − w·pDefect: ~±0.05)
        extra = sorted({*(r for r in opt.reserves if r is not None), *(round(0.01 * x, 4) for x in range(-4, 9))})
        reserve_curve = replay(data, [served], [Setting(chosen["defect_weight"], chosen["min_relevance"], r)
                                                for r in [None, *extra]], opt.top_k)
    return {"source": data.source, "options": asdict(opt), "served_model": served, "models": models,
            "sweeps": {"w": w_sweep, "floor": floor_sweep}, "grid": rows, "goals": goals,
            "previous_defaults": previous, "recommended": chosen, "reserve_curve": reserve_curve,
            "machine": {"cpu": cpu_summary(), "python": platform.python_version()}}


def seed_check(result: dict, datas: dict[int, ReplayData], top_k: int) -> list[dict]:
    """The recommended setting and the previous defaults replayed on other bid and pClick draws (seed → data),
    added to `result` as `seed_check`: how much of a difference is the draw's."""
    served, chosen = result["served_model"], result["recommended"]
    settings = [PREVIOUS] + ([Setting(chosen["defect_weight"], chosen["min_relevance"], chosen["reserve"])]
                             if chosen else [])
    names = ["previous defaults", "recommended"]
    rows = [{"seed": seed, "setting": names[i], **row} for seed, d in datas.items()
            for i, row in enumerate(replay(d, [served], settings, top_k))]
    result["seed_check"] = rows
    return rows


def write_replay_report(result: dict, out: Path) -> dict:
    """replay.json, report.md and the plots into `out`; returns the file names."""
    out.mkdir(parents=True, exist_ok=True)
    files = {"json": "replay.json", "report": "report.md"}
    files["w_plot"] = _plot(result["sweeps"]["w"], "defect_weight", out / "revenue_vs_bad_by_w.png",
                            "w (floor 0, reserve 0)")
    files["floor_plot"] = _plot(result["sweeps"]["floor"], "min_relevance", out / "revenue_vs_bad_by_floor.png",
                                "relevance floor (w 0, no reserve)")
    if result["reserve_curve"]:
        files["reserve_plot"] = _plot_reserve(result["reserve_curve"], out / "revenue_by_reserve.png")
    result = {**result, "files": files}
    (out / files["json"]).write_text(json.dumps(result, indent=2, allow_nan=True) + "\n")
    (out / files["report"]).write_text(_markdown(result))
    return files


def _row(r: dict, name: str | None = None) -> str:
    res = "none" if r["reserve"] is None else f"{r['reserve']:g}"
    return (f"| {name or r['model']} | {r['defect_weight']:g} | {r['min_relevance']:g} | {res} | "
            f"{r['revenue_per_query']:.4f} | {r['ads_per_query']:.2f} | {100 * r['bad_share']:.1f} % | "
            f"{r['ndcg']:.3f} | {100 * r['no_ad_share']:.1f} % | {r['clicks_per_query']:.4f} |")


_HEAD = ["| {} | w | floor | reserve | revenue / query | ads / query | Bad share | nDCG | no ad | clicks / query |",
         "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]


def _markdown(r: dict) -> str:
    src, opt, served = r["source"], r["options"], r["served_model"]
    lines = ["# Auction replay", "",
             f"Input: `{src['input']}` ({src['kind']}{', split ' + src['split'] if 'split' in src else ''}): "
             f"{src['rows']} candidate ads over {src['queries']} queries; {opt['top_k']} slots per query. "
             "Each query's candidates go through the service's own auction (`service.ranker.auction.run_auction`)"
             ": score = bid·pClick − w·(1 − relevance), ads below the floor or scoring below the reserve dropped, "
             "GSP prices.", "",
             f"- Bids: {src['bid']}; pClicks: {src['p_click']}" + (f" — {src['draws']}." if "draws" in src else "."),
             "- Relevance: " + "; ".join(f"{m}: {c['from']}" + (f" (a {c['a']:.4f}, b {c['b']:.4f})" if "a" in c
                                                                  else "") for m, c in src["calibration"].items())
             + ".",
             "- Revenue per query = Σ over shown slots of GSP cost per click × pClick, averaged over all queries "
             "(no ad: 0). Bad share = shown ads labelled Bad / shown ads. nDCG: binary gains of the shown list, "
             "over queries with a Good candidate. pClick does not depend on the slot.", "",
             "## Recommended settings (from the grid of the served student)", "",
             f"Grid: w ∈ {opt['weights']}, floor ∈ {opt['floors']}, reserve ∈ "
             f"{['none' if x is None else x for x in opt['reserves']]}. A goal picks the most revenue under its "
             "Bad-share cap (within 0.5 % of it: the higher nDCG).", "", *[_HEAD[0].format("goal"), _HEAD[1]]]
    for goal, row in r["goals"][served].items():
        lines.append(_row(row, goal) if row else f"| {goal} | no setting qualifies | | | | | | | | |")
    lines.append(_row(r["previous_defaults"], "previous service defaults"))
    lines += ["", f"The service's defaults follow the goal `bad_share<={opt['default_cap']:g}`.", "",
              "## Every grid model at each goal", "", _HEAD[0].format("model · goal"), _HEAD[1]]
    for m, goals in r["goals"].items():
        lines += [_row(row, f"{m} · {g}") for g, row in goals.items() if row]
    for key, title, fixed in (("w", "w sweep (floor 0, reserve 0: shown only when bid·pClick ≥ w·pDefect)", "w"),
                              ("floor", "floor sweep (w 0, no reserve)", "floor")):
        lines += ["", f"## {title}", "", _HEAD[0].format("model"), _HEAD[1]]
        lines += [_row(x) for x in r["sweeps"][key]]
        lines += ["", f"![revenue vs Bad share by {fixed}]({r['files'][key + '_plot']})"]
    if r["reserve_curve"]:
        lines += ["", f"## Reserve at the recommended w and floor ({served})", "",
                  "Revenue rises with the reserve while no shown ad is dropped (every price's threshold "
                  "max(next score, reserve) only grows); past that, ads drop and revenue can fall.", "",
                  _HEAD[0].format("model"), _HEAD[1], *[_row(x) for x in r["reserve_curve"]], "",
                  f"![revenue by reserve]({r['files']['reserve_plot']})"]
    if r.get("seed_check"):
        lines += ["", "## Other bid and pClick draws (seeds)", "", "The previous defaults and the recommended "
                  "setting on other seeds of the same distributions: the spread is the draw's.", "",
                  _HEAD[0].format("seed · setting"), _HEAD[1],
                  *[_row(x, f"{x['seed']} · {x['setting']}") for x in r["seed_check"]]]
    lines += ["", f"Machine: {r['machine']['cpu']}.", ""]
    return "\n".join(lines)


def _plot(rows: list[dict], key: str, path: Path, what: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = list(dict.fromkeys(x["model"] for x in rows))
    fig, ax = plt.subplots(figsize=(7, 5))
    for m in [m for m in PLOT_MODELS if m in present] or present:
        mine = [x for x in rows if x["model"] == m]
        xs, ys = [100 * x["bad_share"] for x in mine], [x["revenue_per_query"] for x in mine]
        (line,) = ax.plot(xs, ys, "o-", ms=3, label=m)
        for x, y, row in zip(xs, ys, mine, strict=True):
            ax.annotate(f"{row[key]:g}", (x, y), fontsize=6, color=line.get_color(), xytext=(3, 2),
                        textcoords="offset points")
    ax.set(xlabel="Bad share of shown ads (%)", ylabel="revenue per query", title=f"Revenue vs Bad share, by {what}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def _plot_reserve(rows: list[dict], path: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [x for x in rows if x["reserve"] is not None]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([x["reserve"] for x in pts], [x["revenue_per_query"] for x in pts], "o-", label="revenue per query")
    ax2 = ax.twinx()
    ax2.plot([x["reserve"] for x in pts], [x["ads_per_query"] for x in pts], "s--", color="gray",
             label="ads per query")
    ax.set(xlabel="reserve (score)", ylabel="revenue per query", title=f"Reserve sweep ({rows[0]['model']})")
    ax2.set_ylabel("ads per query")
    ax.grid(alpha=0.3)
    fig.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name

