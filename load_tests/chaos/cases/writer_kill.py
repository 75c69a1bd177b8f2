"""SIGKILL `twinrank index build` / `index update` at random moments of their run.

After each kill: CURRENT still names a complete version whose manifest verifies (the one from before, or the
killed writer's own if the kill came after its switch), and the same command run again succeeds and leaves no
scratch directory or unswitched version behind (the next writer sweeps what the killed one left).
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

from load_tests.chaos.base import CaseContext, CaseResult
from load_tests.chaos.writers import (
    build_args,
    new_ad,
    published_root,
    root_state,
    run_cli,
    save_plot,
    start_cli,
    update_args,
    write_upserts,
)
from service.bundle import version_seq

NAME = "writer_kill"
PHASES = ("start-up", "encoding", "index + publish", "after switch")


def phase_of(log: str) -> str:
    """How far a writer got, from its output: imports and reading, encoding, index/verify/rename, switched."""
    if "published " in log:
        return PHASES[3]
    if "built " in log:
        return PHASES[2]
    if "encode" in log:
        return PHASES[1]
    return PHASES[0]


def run(ctx: CaseContext) -> CaseResult:
    t0 = time.monotonic()
    rng = random.Random(ctx.seed)
    n_kills = 3 if ctx.quick else 12
    t_first = time.monotonic()
    root, catalog = published_root(ctx.workdir, 40 if ctx.quick else 400)
    commands: dict[str, list[str]] = {"build": build_args(catalog, root)}
    trials, details = [], []
    # how long each writer takes uninterrupted (kept to its latest unkilled run), so the kills fall anywhere in a
    # run's life; a small update takes about as long as a small build (imports, sessions and verification)
    duration = {"build": time.monotonic() - t_first}
    duration["update"] = duration["build"] if ctx.quick else _timed_update(ctx.workdir, root)
    while sum(t["killed"] for t in trials) < n_kills and len(trials) < 2 * n_kills:  # a run may end before its kill
        i = len(trials)
        kind = "build" if i % 2 == 0 else "update"
        if kind == "update":
            upsert = write_upserts(ctx.workdir / f"up-{i}.jsonl", [new_ad(f"kill-{i}-{j}", i + j) for j in range(3)])
            commands["update"] = update_args(root, upsert)
        before = root_state(root)
        # one kill in three late in the run: the index write, the verification, the rename and the switch
        moment = duration[kind] * (rng.uniform(0.02, 0.98) if i % 3 != 2 else rng.uniform(0.7, 1.0))
        log_path = ctx.workdir / f"kill-{i}.log"
        proc = start_cli(*commands[kind], log=log_path)
        finished = _wait(proc, moment)
        if not finished:
            proc.send_signal(signal.SIGKILL)
        proc.wait(60)
        phase = phase_of(log_path.read_text(errors="replace"))
        after = root_state(root)
        committed = after.current != before.current
        intact = after.valid and (not committed or after.parent == before.current)
        nxt = run_cli(*commands[kind])
        then = root_state(root)
        unswitched = [v for v in then.versions if (version_seq(v) or 0) > (version_seq(then.current or "") or 0)]
        duration[kind] = nxt.seconds
        next_ok = nxt.rc == 0 and then.valid and then.parent == after.current and not then.scratch and not unswitched
        trials.append({"kind": kind, "moment_s": round(moment, 2), "killed": not finished, "phase": phase,
                       "intact": intact, "committed": committed, "scratch_after_kill": len(after.scratch),
                       "scratch_after_next_run": len(then.scratch), "unswitched_after_next_run": len(unswitched),
                       "next_run_ok": next_ok})
        details.append(f"trial {i + 1} ({kind}) at {moment:.2f} s, {phase}{'' if not finished else ' (it had ended)'}: "
                       f"CURRENT {'intact' if intact else 'BROKEN: ' + (after.problem or str(after.current))}"
                       f"{' (its switch had landed)' if committed else ''}, {len(after.scratch)} scratch dir(s) left; "
                       f"next run {'ok' if next_ok else f'FAILED (exit {nxt.rc}: {nxt.last_line[:160]})'}, "
                       f"{len(then.scratch)} scratch dir(s) after it")
    killed = [t for t in trials if t["killed"]]
    figures = {
        "kills": len(killed), "moments_s": [t["moment_s"] for t in trials],
        "phases": {p: sum(t["phase"] == p for t in killed) for p in PHASES},
        "current_intact": sum(t["intact"] for t in trials), "trials": len(trials),
        "committed_before_kill": sum(t["committed"] for t in trials),
        "max_scratch_after_kill": max(t["scratch_after_kill"] for t in trials),
        "leftover_tmp_dirs": sum(t["scratch_after_next_run"] + t["unswitched_after_next_run"] for t in trials),
        "next_run_ok": sum(t["next_run_ok"] for t in trials),
        "run_s": {k: round(v, 1) for k, v in duration.items()},
    }
    passed = (len(killed) >= n_kills and figures["current_intact"] == len(trials)
              and figures["next_run_ok"] == len(trials) and figures["leftover_tmp_dirs"] == 0)
    phases = ", ".join(f"{n} {p}" for p, n in figures["phases"].items() if n)
    summary = (f"{len(killed)} SIGKILLs of index build/update ({phases}): "
               f"CURRENT intact {figures['current_intact']}/{len(trials)}, next run ok {figures['next_run_ok']}/"
               f"{len(trials)}, leftover temp dirs {figures['leftover_tmp_dirs']}")
    return CaseResult(name=NAME, passed=passed, summary=summary, figures=figures, details=details,
                      plots=[_plot(trials, duration, ctx.out_dir)], seconds=round(time.monotonic() - t0, 1))


def _timed_update(work: Path, root: Path) -> float:
    r = run_cli(*update_args(root, write_upserts(work / "up-warm.jsonl", [new_ad("warm-up", 0)])))
    if r.rc != 0:
        raise RuntimeError(f"the first update failed ({r.rc}): {r.last_line}")
    return r.seconds


def _wait(proc, seconds: float) -> bool:
    """Sleep up to `seconds`; True if the process ended first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return True
        time.sleep(min(0.01, max(deadline - time.monotonic(), 0)))
    return proc.poll() is not None


def _plot(trials: list[dict], duration: dict[str, float], out_dir: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [3, 2]})
    colours = dict(zip(PHASES, ("tab:gray", "tab:blue", "tab:orange", "tab:green"), strict=True))
    for kind, y in (("build", 1), ("update", 0)):
        if kind in duration:
            ax.plot([0, duration[kind]], [y, y], color="lightgray", lw=8, solid_capstyle="butt", zorder=1)
    for p in PHASES:
        pts = [t for t in trials if t["phase"] == p]
        ax.scatter([t["moment_s"] for t in pts], [1 if t["kind"] == "build" else 0 for t in pts], s=70,
                   color=colours[p], marker="o", edgecolor="k", zorder=2, label=p)
    bad = [t for t in trials if not t["intact"]]
    ax.scatter([t["moment_s"] for t in bad], [1 if t["kind"] == "build" else 0 for t in bad], s=160, marker="x",
               color="red", zorder=3, label="CURRENT broken")
    ax.set_yticks([0, 1], ["index update", "index build"])
    ax.set_ylim(-0.6, 1.6)
    ax.set_xlabel("SIGKILL at (s after start; grey: an uninterrupted run)")
    ax.legend(fontsize=7, loc="upper right", ncol=2)
    ax.set_title("kill moments and how far the writer had got")
    x = range(1, len(trials) + 1)
    bx.bar([i - 0.2 for i in x], [t["scratch_after_kill"] for t in trials], 0.4, label="after the kill")
    bx.bar([i + 0.2 for i in x], [t["scratch_after_next_run"] + t["unswitched_after_next_run"] for t in trials],
           0.4, label="after the next run")
    bx.set_xlabel("trial")
    bx.set_ylabel("scratch dirs / unswitched versions")
    bx.set_xticks(list(x))
    bx.yaxis.get_major_locator().set_params(integer=True)
    bx.legend(fontsize=7)
    bx.set_title("what the killed writer left")
    return save_plot(fig, out_dir, f"{NAME}.png")
