"""The campaign: run each fault case in a fresh work directory, in a fixed order, and keep every result.

A case that is not there yet (its module is not on this branch) is skipped with a note; a case that raises, or
runs past its timeout (its processes are then killed), is a failed case with the reason as its summary, so one
broken or hung case never hides the others.
"""

from __future__ import annotations

import contextlib
import importlib
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from load_tests.chaos.base import CaseContext, CaseResult

CASES_PACKAGE = "load_tests.chaos.cases"
# The campaign's order: the writers first (no server), then the swaps, the serving limits, the soak, the fuzzer.
CASE_ORDER = ("writer_kill", "concurrent_writers", "disk_full", "bad_bundle", "swap_under_load", "slow_clients",
              "overload", "soak", "schemathesis")
# A case whose module is named otherwise (`cases/schemathesis.py` would read as the library in tracebacks).
CASE_MODULES = {"schemathesis": "schemathesis_runs"}
# Seconds a case may run before it is failed and its child processes killed (quick, full); a module's own
# `TIMEOUT_S = (quick, full)` replaces them. The full swaps build 1M-ad indexes and the soak runs 30 minutes.
DEFAULT_TIMEOUT_S = (600.0, 4 * 3600.0)


def select_cases(only: str | list[str] | None, order: tuple[str, ...] = CASE_ORDER) -> list[str]:
    """The cases to run, in campaign order: all, or those named in `only` (comma-separated or a list)."""
    if not only:
        return list(order)
    names = [n.strip() for n in (only.split(",") if isinstance(only, str) else only) if n.strip()]
    unknown = [n for n in names if n not in order]
    if unknown:
        raise ValueError(f"--only: unknown case(s) {', '.join(unknown)} (known: {', '.join(order)})")
    return [n for n in order if n in names]


def load_case(name: str, package: str = CASES_PACKAGE):
    """The case module, or None when it is not there (a case another branch adds)."""
    module_name = f"{package}.{CASE_MODULES.get(name, name)}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    if not callable(getattr(module, "run", None)):
        raise TypeError(f"{module_name} defines no run(ctx) -> CaseResult")
    return module


def case_timeout(module, quick: bool) -> float:
    quick_s, full_s = getattr(module, "TIMEOUT_S", DEFAULT_TIMEOUT_S)
    return float(quick_s if quick else full_s)


def run_case(name: str, module, ctx: CaseContext, timeout_s: float | None = None) -> CaseResult:
    """`module.run(ctx)`; an exception, a wrong return value or running past `timeout_s` (default: the case's
    `case_timeout`) becomes a failed result. A case that times out keeps running in its (daemon) thread, but every
    process it started is killed, so the servers it waits on are gone and the campaign goes on."""
    import threading

    timeout_s = case_timeout(module, ctx.quick) if timeout_s is None else timeout_s
    t0 = time.monotonic()
    before = _child_pids()
    box: dict[str, CaseResult] = {}
    thread = threading.Thread(target=lambda: box.update(result=_call(name, module, ctx)), name=f"chaos-{name}",
                              daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        killed = _kill_children_since(before)
        result = CaseResult(name=name, passed=False, summary=f"timed out after {timeout_s:g} s ({killed} child "
                            "process(es) it started were killed)")
    else:
        result = box["result"]
    if not result.seconds:
        result = result.model_copy(update={"seconds": round(time.monotonic() - t0, 1)})
    return result


def _call(name: str, module, ctx: CaseContext) -> CaseResult:
    try:
        result = module.run(ctx)
        if not isinstance(result, CaseResult):
            raise TypeError(f"run() returned {type(result).__name__}, not CaseResult")
        return result
    except Exception as exc:  # a broken case is a failed case, reported like any other
        tb = traceback.format_exception(exc)
        return CaseResult(name=name, passed=False, summary=f"raised {type(exc).__name__}: {str(exc)[:300]}",
                          details=["```", *"".join(tb[-3:]).rstrip().splitlines()[-12:], "```"])


def _descendants() -> list:
    import psutil

    return psutil.Process().children(recursive=True)


def _child_pids() -> set[int]:
    return {p.pid for p in _descendants()}


def _kill_children_since(before: set[int]) -> int:
    """SIGKILL every descendant process that was not there when the case started; how many."""
    import psutil

    victims = [p for p in _descendants() if p.pid not in before]
    for p in victims:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(victims, timeout=10)
    return len(victims)


def run_campaign(out_dir: Path, quick: bool = False, only: str | list[str] | None = None, seed: int = 0,
                 case_timeout_s: float | None = None,
                 package: str = CASES_PACKAGE, order: tuple[str, ...] = CASE_ORDER,
                 log: Callable[[str], None] = lambda line: None, keep_workdirs: bool = False,
                 command: str = "", work_root: Path | None = None) -> dict:
    """Run the selected cases; write results.json and report.md into `out_dir`; return the results document.

    With `only`, the other cases' results of an earlier run of the same mode in `out_dir` are kept (each with
    its `run_at`), so one case can be rerun without losing the rest of the report. Each case works in
    `work_root/<name>` (default: a new temporary directory), removed when it passed and kept when it failed.
    """
    import json

    from common.machine import describe
    from load_tests.chaos.report import write_report

    names = select_cases(only, order)
    out_dir.mkdir(parents=True, exist_ok=True)
    work_root = Path(tempfile.mkdtemp(prefix="twinrank-chaos-", dir=work_root))
    results: list[CaseResult] = []
    skipped: list[dict] = []
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    try:
        for name in names:
            try:
                module = load_case(name, package)
            except Exception as exc:  # a case that cannot even be imported fails, the campaign goes on
                results.append(CaseResult(name=name, passed=False,
                                          summary=f"import failed: {type(exc).__name__}: {str(exc)[:300]}"))
                log(f"{name}: FAILED (import: {exc})")
                continue
            if module is None:
                skipped.append({"name": name, "reason": f"not present: no module {package}.{name} on this branch"})
                log(f"{name}: skipped (not present yet)")
                continue
            workdir = work_root / name
            workdir.mkdir()
            log(f"{name}: running ({'quick' if quick else 'full'})")
            result = run_case(name, module, CaseContext(workdir=workdir, out_dir=out_dir, quick=quick, seed=seed),
                              case_timeout_s)
            results.append(result)
            log(f"{name}: {'passed' if result.passed else 'FAILED'} in {result.seconds:g} s: {result.summary}")
            if result.passed and not keep_workdirs:
                shutil.rmtree(workdir, ignore_errors=True)
            elif not result.passed:
                log(f"{name}: its work directory is kept: {workdir}")
    finally:
        if not keep_workdirs and not any(work_root.iterdir()):
            shutil.rmtree(work_root, ignore_errors=True)
    # The scratch root is this machine's temporary directory: reports name it `<workdir>`, the log the real path.
    cases = json.loads(json.dumps([r.model_dump() | {"run_at": started} for r in results])
                       .replace(json.dumps(str(work_root))[1:-1], "<workdir>"))
    if only:
        cases = _with_earlier(out_dir / "results.json", cases, skipped, quick, order)
    doc = {
        "started_at": started,
        "command": command,
        "quick": quick,
        "seed": seed,
        "selected": names,
        "passed": sum(c["passed"] for c in cases),
        "failed": sum(not c["passed"] for c in cases),
        "skipped": skipped,
        "cases": cases,
        "workdirs_kept": work_root.exists(),
        "machine": describe(),
    }
    write_report(out_dir, doc)
    return doc


def _with_earlier(path: Path, cases: list[dict], skipped: list[dict], quick: bool,
                  order: tuple[str, ...]) -> list[dict]:
    """`cases` plus the earlier run's results (same mode) of the cases not run now, in campaign order."""
    import json

    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return cases
    if earlier.get("quick") != quick:
        return cases
    now = {c["name"] for c in cases} | {s["name"] for s in skipped}
    kept = [c | {"run_at": c.get("run_at", earlier.get("started_at"))} for c in earlier.get("cases", [])
            if c.get("name") not in now]
    rank = {name: i for i, name in enumerate(order)}
    return sorted(cases + kept, key=lambda c: rank.get(c["name"], len(rank)))
