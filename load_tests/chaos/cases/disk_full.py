"""A full disk while publishing: `index build` / `index update` run out of space part-way through staging.

Two ways to fill the disk: a real small filesystem (a tmpfs sized to the bundle root plus a random part of what
the new version needs, mounted in a private mount namespace with `unshare -rm`, where the machine allows it),
and the bundle writer's test-only injection (`TWINRANK_TEST_ENOSPC_AFTER_BYTES`: ENOSPC once that many bytes are
staged). Either way: exit 1 with one `error: no space left on device …` line, nothing published, the previous
version intact, no scratch left; with space again the same command succeeds.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from load_tests.chaos.base import CaseContext, CaseResult
from load_tests.chaos.writers import (
    REPO,
    Ran,
    build_args,
    child_env,
    new_ad,
    published_root,
    root_state,
    run_cli,
    save_plot,
    update_args,
    write_upserts,
)

NAME = "disk_full"
ENOSPC_ENV = "TWINRANK_TEST_ENOSPC_AFTER_BYTES"  # offline.publish.bundle_writer.TEST_ENOSPC_ENV
PER_VERSION_FILES = ("ads.parquet", "ad_vectors.npy", "ads.faiss", "manifest.json")  # what an update writes

# Inside a private mount namespace: a tmpfs with the root copied in, shrunk to what it holds + BUDGET_KB, the
# writer run, the state taken; then room again and the same writer run once more.
_IN_NAMESPACE = r"""
set -u
M="$1"; SRC="$2"; BUDGET_KB="$3"; ROOMY_KB="$4"; OUT="$5"; shift 5
mount -t tmpfs -o size=4g tmpfs "$M" || exit 90
cp -a "$SRC" "$M/bundles"
USED=$(df --output=used -k "$M" | tail -1)
mount -o remount,size=$((USED + BUDGET_KB))k "$M" || exit 91
"$PY" -m cli "$@" > "$OUT/first.log" 2>&1; echo $? > "$OUT/first.rc"
"$PY" -m load_tests.chaos.writers state "$M/bundles" > "$OUT/first.state.json"
mount -o remount,size=$((USED + ROOMY_KB))k "$M" || exit 92
"$PY" -m cli "$@" > "$OUT/next.log" 2>&1; echo $? > "$OUT/next.rc"
"$PY" -m load_tests.chaos.writers state "$M/bundles" > "$OUT/next.state.json"
"""


def tmpfs_available(work: Path) -> bool:
    """Whether this machine lets an unprivileged user mount a tmpfs in its own mount namespace."""
    if shutil.which("unshare") is None:
        return False
    probe = work / "probe-mnt"
    probe.mkdir(exist_ok=True)
    try:
        r = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs '{probe}'"],
                           capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def run(ctx: CaseContext) -> CaseResult:
    t0 = time.monotonic()
    rng = random.Random(ctx.seed)
    root, catalog = published_root(ctx.workdir, 40 if ctx.quick else 300)
    version = root / root_state(root).current
    need = {"build": sum(p.stat().st_size for p in version.iterdir() if p.is_file()),
            "update": sum((version / f).stat().st_size for f in PER_VERSION_FILES)}
    methods = ["tmpfs", "injected"] if tmpfs_available(ctx.workdir) else ["injected"]
    runs = 2 if ctx.quick else 6 * len(methods)  # quick: a build and an update, on a tmpfs and injected if it can
    plan = [(methods[i * len(methods) // runs], ("build", "update")[i % 2]) for i in range(runs)]
    trials, details = [], []
    for i, (method, kind) in enumerate(plan):
        # the injection counts every staged byte (hard-linked model files too); a tmpfs only what is written
        full = need["build"] if method == "injected" else need[kind]
        budget = int(rng.uniform(0.0, 0.9) * full)
        work = ctx.workdir / f"{method}-{i}"
        work.mkdir()
        args = _args(kind, root, catalog, work, i)
        trial = (_tmpfs_trial if method == "tmpfs" else _injected_trial)(root, args, budget, need, work)
        trial.update(method=method, kind=kind, budget_bytes=budget, budget_share=round(budget / full, 3))
        trials.append(trial)
        details.append(f"{method}, {kind}, {budget:,} B of {full:,} free: exit {trial['rc']} "
                       f"({trial['message'][:150]}); previous version {'intact' if trial['intact'] else 'BROKEN'}, "
                       f"{trial['scratch']} scratch left; with room again: "
                       f"{'ok' if trial['next_ok'] else 'FAILED: ' + trial['next_message'][:120]}")
    clean = [t for t in trials if t["clean_error"] and t["intact"] and not t["scratch"]]
    figures = {
        "methods": methods, "trials": len(trials), "failed_cleanly": len(clean),
        "fit_anyway": sum(t["rc"] == 0 for t in trials), "previous_intact": sum(t["intact"] for t in trials),
        "sigbus_or_traceback": sum(t["crashed"] for t in trials),
        "leftover_tmp_dirs": sum(t["scratch"] for t in trials),
        "next_run_ok": sum(t["next_ok"] for t in trials),
        "need_bytes": need, "per_trial": trials,
    }
    passed = (all(t["intact"] and not t["scratch"] and t["next_ok"] and not t["crashed"] for t in trials)
              and all(t["clean_error"] or t["rc"] == 0 for t in trials) and len(clean) >= len(trials) - 1)
    summary = (f"ENOSPC while publishing ({' + '.join(methods)}), {len(trials)} runs: {len(clean)} refused in one line "
               f"with the previous version intact, {figures['sigbus_or_traceback']} crashes, "
               f"{figures['leftover_tmp_dirs']} temp dirs left, next run ok {figures['next_run_ok']}/{len(trials)}")
    return CaseResult(name=NAME, passed=passed, summary=summary, figures=figures, details=details,
                      plots=[_plot(trials, ctx.out_dir)], seconds=round(time.monotonic() - t0, 1))


def _args(kind: str, root: Path, catalog: Path, work: Path, i: int) -> list[str]:
    if kind == "build":
        return build_args(catalog, root)
    return update_args(root, write_upserts(work / "up.jsonl", [new_ad(f"full-{i}-{j}", i + j) for j in range(3)]))


def _injected_trial(root: Path, args: list[str], budget: int, need: dict, work: Path) -> dict:
    before = root_state(root)
    first = run_cli(*args, env={ENOSPC_ENV: str(budget)})
    after = root_state(root)
    nxt = run_cli(*args)
    return _judge(first, before.__dict__, after.__dict__, nxt, root_state(root).__dict__)


def _tmpfs_trial(root: Path, args: list[str], budget: int, need: dict, work: Path) -> dict:
    mnt = work / "mnt"
    mnt.mkdir()
    inner = str(mnt / "bundles")
    args = [inner if a == str(root) else a for a in args]
    before = root_state(root).__dict__
    roomy_kb = 3 * (need["build"] // 1024) + 4096
    env = {**child_env(), "PY": sys.executable}
    p = subprocess.run(["unshare", "-rm", "bash", "-c", _IN_NAMESPACE, "in-namespace", str(mnt), str(root),
                        str(budget // 1024), str(roomy_kb), str(work), *args], env=env, cwd=REPO,
                       capture_output=True, text=True, timeout=1200)
    if p.returncode != 0 or not (work / "next.state.json").is_file():
        raise RuntimeError(f"the tmpfs trial could not run (exit {p.returncode}): {p.stderr.strip()[-300:]}")

    def ran(stem: str) -> Ran:
        text = (work / f"{stem}.log").read_text(errors="replace")
        return Ran(int((work / f"{stem}.rc").read_text()), text, text, 0.0)

    def state(stem: str) -> dict:
        return json.loads((work / f"{stem}.state.json").read_text())

    return _judge(ran("first"), before, state("first"), ran("next"), state("next"))


def _judge(first: Ran, before: dict, after: dict, nxt: Ran, then: dict) -> dict:
    same = after["valid"] and after["current"] == before["current"] and after["versions"] == before["versions"]
    return {
        "rc": first.rc, "message": first.last_line,
        "clean_error": first.rc == 1 and first.one_line_error and "no space left on device" in first.last_line,
        "crashed": first.rc < 0 or first.rc > 128 or "Traceback" in first.err,
        "intact": same if first.rc != 0 else after["valid"],
        "scratch": len(after["scratch"]),
        "next_ok": nxt.rc == 0 and then["valid"] and then["current"] != after["current"] and not then["scratch"],
        "next_message": nxt.last_line,
    }


def _plot(trials: list[dict], out_dir: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.4))
    rows = {(m, k): y for y, (m, k) in enumerate(sorted({(t["method"], t["kind"]) for t in trials}))}
    for t in trials:
        ok = t["clean_error"] and t["intact"] and not t["scratch"] and t["next_ok"]
        colour = "tab:green" if ok else ("tab:gray" if t["rc"] == 0 and t["next_ok"] else "tab:red")
        ax.scatter(t["budget_share"], rows[(t["method"], t["kind"])], s=80, color=colour, edgecolor="k")
    ax.set_yticks(list(rows.values()), [f"{m}: index {k}" for m, k in rows])
    ax.set_xlim(-0.02, 1.0)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("free space, as a share of what the new version needs")
    ax.set_title("ENOSPC while publishing\n(green: one-line error, previous version intact, next run ok)", fontsize=10)
    return save_plot(fig, out_dir, f"{NAME}.png")
