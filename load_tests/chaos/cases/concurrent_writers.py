"""Concurrent writers: 2–4 `twinrank index update`s and an `index build` started together on one bundle root.

Each update upserts its own new ad and deletes its own existing one; the build rebuilds the current ads plus
one marker ad. In the full run every other trial starts the updates late in the build, so that the build can
land first. Afterwards every change of a writer that exited 0 is in the final CURRENT (the updates that lost
a race re-applied theirs onto the winner), and a writer that did not publish said so: exit 3 and one
`error: …` line. The published versions form one parent chain.
"""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path

from load_tests.chaos.base import CaseContext, CaseResult
from load_tests.chaos.writers import (
    Ran,
    ad_ids,
    build_args,
    new_ad,
    parent_chain,
    published_root,
    root_state,
    save_plot,
    start_cli,
    update_args,
    write_upserts,
)

NAME = "concurrent_writers"
CONFLICT_EXIT = 3  # cli.errors.ExitCode.CONFLICT (the chaos cases do not import the CLI)


def run(ctx: CaseContext) -> CaseResult:
    t0 = time.monotonic()
    rng = random.Random(ctx.seed)
    t_build = time.monotonic()
    root, _ = published_root(ctx.workdir, 40 if ctx.quick else 300)
    t_build = time.monotonic() - t_build
    sizes = [3] if ctx.quick else [rng.randint(2, 4) for _ in range(6)]
    # in the full run every other trial starts the updates late, near the build's end, so that the build can land
    # first and the updates rebase onto it (started together, the updates always win against a full build)
    delays = [0.0 if t % 2 == 0 or ctx.quick else round(rng.uniform(0.6, 0.9) * t_build, 1) for t in range(len(sizes))]
    trials, details = [], []
    for t, (n_updates, delay) in enumerate(zip(sizes, delays, strict=True)):
        trial = _trial(ctx.workdir / f"trial-{t}", root, t, n_updates, rng, delay)
        trials.append(trial)
        details.append(f"trial {t + 1}: {n_updates} updates{f' {delay} s after' if delay else ' and'} a build, "
                       f"{trial['seconds']} s: "
                       f"{trial['published']} published ({trial['rebases']} rebases), {trial['refused']} told "
                       f"they lost ({'; '.join(trial['told']) or 'none'}), lost changes {trial['lost']}, "
                       f"unexplained failures {trial['unexplained']}")
    final = root_state(root)
    figures = {
        "trials": len(trials), "writers": sum(t["writers"] for t in trials),
        "published": sum(t["published"] for t in trials), "refused_conflict": sum(t["refused"] for t in trials),
        "rebases": sum(t["rebases"] for t in trials), "lost_changes": sum(t["lost"] for t in trials),
        "unexplained_failures": sum(t["unexplained"] for t in trials),
        "chain_ok": all(t["chain_ok"] for t in trials), "final_valid": final.valid,
        "leftover_tmp_dirs": len(final.scratch), "per_trial": [{k: v for k, v in t.items() if k != "told"}
                                                               for t in trials],
    }
    passed = (figures["lost_changes"] == 0 and figures["unexplained_failures"] == 0 and figures["chain_ok"]
              and final.valid and not final.scratch)
    summary = (f"{len(trials)} trials of 2–4 updates + a build: {figures['published']} of "
               f"{figures['writers']} writers published ({figures['rebases']} rebases), {figures['refused_conflict']} "
               f"told they lost (exit 3), {figures['lost_changes']} changes lost, "
               f"{figures['unexplained_failures']} unexplained failures")
    return CaseResult(name=NAME, passed=passed, summary=summary, figures=figures, details=details,
                      plots=[_plot(trials, ctx.out_dir)], seconds=round(time.monotonic() - t0, 1))


def _trial(work: Path, root: Path, t: int, n_updates: int, rng: random.Random, delay: float) -> dict:
    work.mkdir(parents=True)
    before = root_state(root)
    existing = sorted(ad_ids(root / before.current))
    victims = rng.sample(existing, n_updates)
    build_marker = f"t{t}-build"
    writers: list[tuple[str, list[str], set[str], set[str]]] = []  # (name, args, must have, must not have)
    for i in range(n_updates):
        upsert = write_upserts(work / f"up-{i}.jsonl", [new_ad(f"t{t}-u{i}", t * 10 + i)])
        (work / f"del-{i}.txt").write_text(victims[i] + "\n", encoding="utf-8")
        writers.append((f"update {i + 1}", update_args(root, upsert, work / f"del-{i}.txt"), {f"t{t}-u{i}"},
                        {victims[i]}))
    catalog = _current_ads_plus(root / before.current, work / "build.jsonl", new_ad(build_marker, t))
    writers.append(("build", build_args(catalog, root), {build_marker}, set()))
    t0 = time.monotonic()
    logs = [work / f"writer-{k}.log" for k in range(len(writers))]
    procs = [None] * len(writers)
    procs[-1] = start_cli(*writers[-1][1], log=logs[-1])  # the build
    time.sleep(delay)
    for k in range(len(writers) - 1):  # the updates, all at once
        procs[k] = start_cli(*writers[k][1], log=logs[k])
    results = []
    for p, log in zip(procs, logs, strict=True):
        p.wait(900)
        text = log.read_text(errors="replace")
        results.append(Ran(p.returncode, text, text, time.monotonic() - t0))
    seconds = round(time.monotonic() - t0, 1)
    after = root_state(root)
    final_ids = ad_ids(root / after.current) if after.valid else set()
    lost = unexplained = published = refused = rebases = 0
    told, versions = [], []
    for (name, _, have, gone), r in zip(writers, results, strict=True):
        if r.rc == 0:
            published += 1
            lost += len(have - final_ids) + len(gone & final_ids)
            m = re.search(r"rebased (\d+)×", r.out)
            rebases += int(m.group(1)) if m else 0
            v = re.search(r"published (\S+)", r.out)
            versions.append(Path(v.group(1)).name if v else "")
        elif r.rc == CONFLICT_EXIT and r.one_line_error:
            refused += 1
            told.append(f"{name}: {r.last_line[:240]}")
            lost += len(have & final_ids) if name == "build" else 0  # a refused build must not have landed
        else:
            unexplained += 1
            told.append(f"{name}: exit {r.rc}: {r.last_line[:240]}")
    chain = parent_chain(root, after.current, before.current) if after.valid else []
    return {"writers": len(writers), "updates": n_updates, "published": published, "refused": refused,
            "rebases": rebases, "lost": lost, "unexplained": unexplained, "seconds": seconds,
            "build": "published" if results[-1].rc == 0 else f"exit {results[-1].rc}", "updates_delay_s": delay,
            "chain_ok": sorted(chain) == sorted(versions) and after.valid, "told": told}


def _current_ads_plus(version_dir: Path, path: Path, extra: dict) -> Path:
    """The ads of `version_dir` plus `extra`, as a JSONL catalog (a rebuild of what is served, one ad more)."""
    import pyarrow.parquet as pq

    rows = pq.read_table(version_dir / "ads.parquet", columns=["ad_id", "title", "description", "bid",
                                                               "p_click"]).to_pylist()
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in [*rows, extra]), encoding="utf-8")
    return path


def _plot(trials: list[dict], out_dir: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6))
    x = list(range(1, len(trials) + 1))
    w = 0.2
    for k, (key, label) in enumerate((("published", "published"), ("rebases", "rebases (an update re-applied)"),
                                      ("refused", "told they lost (exit 3)"), ("lost", "changes lost"))):
        ax.bar([i + (k - 1.5) * w for i in x], [t[key] for t in trials], w, label=label)
    ax.set_xticks(x, [f"{t['updates']} updates{' late' if t['updates_delay_s'] else ''}\n+ a build" for t in trials],
                  fontsize=8)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("writers / rebases / changes")
    ax.set_title(f"writers racing on one bundle root: {sum(t['lost'] for t in trials)} changes lost")
    ax.legend(fontsize=7)
    return save_plot(fig, out_dir, f"{NAME}.png")

