"""Write the distillation report: metrics.json, report.md and PNG plots (ROC curves, reliability diagram)."""

from __future__ import annotations

import json
import platform
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel

from common.files import atomic_write, write_json
from common.machine import cpu_summary
from offline.evaluation.unseen_queries import unseen_markdown

ORDER = ["teacher", "teacher_bi", "teacher_cross", "student_kd", "student_kd_cos", "student_labels",
         "student_labels_both", "cdssm",
         "zero_shot", "tfidf"]
TEACHER = {"bi": "12-layer e5 bi-encoder fine-tuned on labels",
           "cross": "12-layer e5 cross-encoder fine-tuned on labels",
           "ensemble": "mean of the standardised logits of the bi-encoder and the cross-encoder below"}
DESCRIPTION = {
    "teacher": "the teacher the students learned from",
    "teacher_bi": "ensemble member: " + TEACHER["bi"],
    "teacher_cross": "ensemble member: " + TEACHER["cross"],
    "student_kd": "TwinBERT student, distilled + fine-tuned, served head, calibrated (the one to serve)",
    "student_kd_cos": "same student, cosine head (what ANN retrieval ranks by)",
    "student_labels": "same student architecture trained on labels only (ad tower frozen at the base encoder)",
    "student_labels_both": "same query-tower depth, query and ad towers both trained on labels (the teacher's "
                           "recipe)",
    "cdssm": "letter-trigram CDSSM trained on the teacher's scores",
    "zero_shot": "multilingual-e5-small zero-shot cosine",
    "tfidf": "character 3-5-gram TF-IDF cosine",
}


def write_distill_report(run_dir: Path, config: BaseModel, metrics: dict, out: Path) -> None:
    """metrics.json, config.json, report.md and the plots of the run in `run_dir` (its stage wall times are read
    from the stages' `done.json`, the teacher chosen on dev from the score stage's) into `out`."""
    stage_times = {}
    for d in sorted(run_dir.iterdir()):
        done = d / "done.json"
        if done.exists():
            stage_times[d.name] = round(json.loads(done.read_text())["seconds"], 1)
    score_done = run_dir / "score" / "done.json"
    chosen = json.loads(score_done.read_text()).get("teacher", "bi") if score_done.exists() else "bi"
    machine = {"cpu": cpu_summary(), "platform": platform.platform(), "python": platform.python_version()}
    write_report_files(metrics, out, {"stage_seconds": stage_times, "machine": machine, "teacher_chosen": chosen,
                                      "run_name": run_dir.name})
    (out / "config.json").write_text(config.model_dump_json(indent=2))


def write_report_files(metrics: dict, out: Path, run_facts: dict) -> dict:
    """metrics.json (`metrics` plus the run's `stage_seconds`, `machine`, `teacher_chosen` and `run_name`),
    report.md and the plots into `out`; returns what metrics.json holds."""
    out.mkdir(parents=True, exist_ok=True)
    plots = {"roc": _plot_roc(metrics, out / "roc.png"), "reliability": _plot_reliability(metrics,
                                                                                          out / "reliability.png")}
    public = json.loads(json.dumps(metrics))
    for m in public["models"].values():
        m.pop("_roc", None)
    public.update(run_facts)
    public["plots"] = plots
    write_json(out / "metrics.json", public)
    atomic_write(out / "report.md", _markdown(public).encode())
    return public


def gain_text(g: float | None) -> str:
    """A gain kept as a percentage, or why there is none."""
    return f"{g:.1%}" if g is not None else "n/a (the teacher is no better)"


def _gain_line(m: dict) -> str:
    baseline = m.get("gain_kept_baseline", "student_labels")
    others = [f"{gain_text(g)} against {n}" for n, g in m.get("gain_kept_vs", {}).items() if n != baseline]
    return (f"- Gain kept = (AUC_kd − AUC_labels) / (AUC_teacher − AUC_labels) against the strongest labels-only "
            f"student of the same serving cost on dev, {baseline}: **{gain_text(m['gain_kept'])}**"
            + (f" ({'; '.join(others)})" if others else ""))


def _describe(name: str, chosen: str) -> str:
    if name != "teacher":
        return DESCRIPTION[name]
    return f"{DESCRIPTION[name]}: {TEACHER.get(chosen, chosen)} (chosen on dev)"


def _markdown(m: dict) -> str:
    lines = [
        "# Distillation report: German QADSM (official test split)",
        "",
        f"Rows: {m['rows']}. Command: `twinrank distill --data <qadsm>/de --out runs/{m['run_name']} --config "
        "<config>`; "
        "the resolved config is `config.json` beside this file.",
        "",
        "| model | ROC-AUC | 95% CI | PR-AUC | accuracy (dev threshold) | nDCG@5 | Good in top-1 | Good in top-3 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in ORDER:
        if name not in m["models"]:
            continue
        r = m["models"][name]
        ndcg = next(v for k, v in r.items() if k.startswith("ndcg_at_"))
        dens = r["label_density"]
        lines.append(
            f"| {name} | {r['roc_auc']:.4f} | {r['roc_auc_ci'][0]:.4f}–{r['roc_auc_ci'][1]:.4f} | {r['pr_auc']:.4f} | "
            f"{100 * r['accuracy']:.1f} % | {ndcg:.4f} | {dens.get('top1', float('nan')):.3f} | "
            f"{dens.get('top3', float('nan')):.3f} |"
        )
    lines += [
        "",
        *(f"- **{k}**: {_describe(k, m.get('teacher_chosen', 'bi'))}" for k in DESCRIPTION if k in m["models"]),
        "",
        _gain_line(m),
        f"- Student AUC / teacher AUC = **{m['kd_over_teacher_auc']:.4f}**",
        f"- Expected calibration error of student_kd on test: before {m['ece']['before']:.4f}, "
        f"after Platt scaling on dev {m['ece']['after']:.4f} (head `{m['calibration']['head']}`)",
        "- nDCG@5 is over test queries with both labels; 'Good in top-k' is the share of Good ads among each "
        "query's k best-scored ads (queries with ≥ k ads), as in TwinBERT's density table.",
        "",
        *([unseen_markdown(m["test_unseen_queries"])] if "test_unseen_queries" in m else []),
        "## Wall time per stage (seconds)",
        "",
        "| stage | seconds |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in m["stage_seconds"].items()),
        "",
        f"Machine: {m['machine']['cpu']}.",
        "",
        "![ROC curves](roc.png)",
        "",
        "![Reliability diagram](reliability.png)",
        "",
    ]
    return "\n".join(lines)


@contextmanager
def _square_plot(path: Path, xlabel: str, ylabel: str, title: str, legend_loc: str):
    """A 6×6 in. axes with the diagonal drawn; saved to `path` (PNG) when the block ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6))
    yield ax
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(loc=legend_loc, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_roc(m: dict, path: Path) -> str:
    with _square_plot(path, "false positive rate", "true positive rate", "ROC, test split", "lower right") as ax:
        for name in ORDER:
            if name in m["models"]:
                r = m["models"][name]
                ax.plot(r["_roc"]["fpr"], r["_roc"]["tpr"], label=f"{name} ({r['roc_auc']:.3f})")
    return path.name


def _plot_reliability(m: dict, path: Path) -> str:
    with _square_plot(path, "predicted relevance", "observed share Good", "student_kd reliability (test)",
                      "upper left") as ax:
        for key, style in (("before", "o--"), ("after", "s-")):
            r = m["reliability"][key]
            ax.plot(r["confidence"], r["accuracy"], style, label=f"{key} calibration (ECE {m['ece'][key]:.3f})")
    return path.name
