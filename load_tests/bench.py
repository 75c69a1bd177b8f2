"""`twinrank bench` / `python -m load_tests.bench`: the performance benchmarks in one run, side by side.

1. teacher cross-encoder vs TwinBERT student scoring 100 ads (ONNX Runtime both) → speed-up ratio;
2. query encoding: PyTorch vs ONNX fp32 vs ONNX int8;
3. retrieval over 1M vectors: exact vs ANN, with recall;
4. end to end: POST /rank over real HTTP on a 1M-ad bundle at 200 req/s, then a rate sweep (p99 ≤ 20 ms);
5. the load generator's own overhead against a trivial server.

Results go to `<out>/perf.json` and `<out>/perf.md` with plots. `--only` reruns some parts and keeps the
others from the existing perf.json (each part records when it ran and the load average around it).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from common.machine import describe, load_average

PARTS = ("teacher", "encode", "retrieval", "e2e", "generator")
_COMMAND = ["twinrank bench"]  # the command line of this run, recorded with each part it ran


@dataclass
class BenchOptions:
    out: Path = Path("reports/perf")
    bundle: Path | None = None
    student: Path | None = None  # the e2e bundle's model dir (`twinrank export`); default: untrained, shipped shape
    only: list[str] = field(default_factory=list)
    queries: str | None = None
    quick: bool = False
    work: Path = Path("runs/bench")
    threads: int = 1
    sweep: tuple[float, ...] = (25, 50, 100, 150, 200, 300, 400, 600)
    server_env: dict[str, str] = field(default_factory=dict)
    e2e_name: str = "end_to_end"
    e2e_repeats: int = 5  # fixed-rate runs; the headline is the median run's p99
    command: str = "twinrank bench"


def _log(msg: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def _ad_texts(queries_path: str | None, queries: list[str], n: int = 500) -> tuple[list[str], str]:
    """Ad texts for the teacher/student comparison: title + description from a QADSM TSV when given."""
    if queries_path:
        texts = []
        with open(queries_path, encoding="utf-8", newline="") as fh:
            for line in fh:
                parts = line.rstrip("\r\n").split("\t")
                if len(parts) >= 3:
                    texts.append(f"{parts[1]} {parts[2]}".strip())
                if len(texts) >= n:
                    break
        if texts:
            return texts, "QADSM title + description (read at run time)"
    from load_tests.mix import synthetic_ads

    return [f"{a.title} {a.description}" for a in synthetic_ads(queries, n)], "project-made synthetic ads"


def _section(name: str, fn) -> dict:
    _log(f"{name}: start (load {load_average()})")
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    t0 = time.perf_counter()
    before = load_average()
    result = fn()
    result["_meta"] = {"ran_at": started, "seconds": round(time.perf_counter() - t0, 1), "command": _COMMAND[0],
                       "load_average_before": before, "load_average_after": load_average()}
    _log(f"{name}: done in {result['_meta']['seconds']} s")
    return result


def run_bench(opts: BenchOptions) -> dict:
    from load_tests.queries import load_queries

    _COMMAND[0] = opts.command
    bad = [p for p in opts.only if p not in PARTS]
    if bad:
        raise ValueError(f"--only: unknown part(s) {bad}; parts are {list(PARTS)}")
    parts = opts.only or list(PARTS)
    work = opts.work
    work.mkdir(parents=True, exist_ok=True)
    queries = load_queries(opts.queries)
    perf_path = opts.out / "perf.json"
    doc: dict = json.loads(perf_path.read_text()) if (opts.only and perf_path.exists()) else {}
    doc.setdefault("sections", {})
    sec = doc["sections"]
    q_source = "QADSM queries read by path at run time" if opts.queries else "project-made built-in queries"
    n_vec = 100_000 if opts.quick else 1_000_000

    if "teacher" in parts:
        from load_tests.bench_models import teacher_vs_student

        ads, ad_source = _ad_texts(opts.queries, queries)
        sec["teacher_vs_student"] = _section("teacher vs student", lambda: teacher_vs_student(
            work, queries, ads, threads=opts.threads, repeats=3 if opts.quick else 12) | {"ad_texts": ad_source})
    if "encode" in parts:
        from load_tests.bench_models import query_encoding

        sec["query_encoding"] = _section("query encoding", lambda: query_encoding(
            work, queries, threads=opts.threads, repeats=50 if opts.quick else 300))
    bundles = opts.bundle or work / f"bundles-{n_vec}"  # the 1M-ad bundle of the e2e part
    if "retrieval" in parts:
        from load_tests.bench_retrieval import retrieval

        def served_index() -> tuple[Path | None, str | None]:  # the e2e bundle's index over the same vectors
            from service.bundle import BundleError, current_version_dir, load_manifest

            try:
                version = current_version_dir(bundles)
                return version / "ads.faiss", load_manifest(version).index.factory
            except (BundleError, OSError, ValueError):
                return None, None

        served_path, served_factory = served_index()
        sec["retrieval"] = _section("retrieval", lambda: retrieval(work, n=n_vec, threads=opts.threads,
                                                                   served_index=served_path,
                                                                   served_factory=served_factory))
    if "e2e" in parts:
        from load_tests.bench_e2e import build_synthetic_bundle, end_to_end
        from load_tests.bench_models import build_student
        from load_tests.bench_retrieval import synthetic_vectors


        def e2e() -> dict:
            t0 = time.perf_counter()
            vec_path, _ = synthetic_vectors(work, n_vec)
            version = build_synthetic_bundle(bundles, opts.student or build_student(work), vec_path)
            build_s = round(time.perf_counter() - t0, 1)
            _log(f"bundle {version.name} ready after {build_s} s")
            res = end_to_end(work, bundles, opts.queries, duration=10 if opts.quick else 30,
                             sweep_rates=opts.sweep, sweep_duration=5 if opts.quick else 15,
                             server_env=opts.server_env, repeats=1 if opts.quick else opts.e2e_repeats)
            student = str(opts.student) if opts.student else "untrained student of the shipped shape"
            return res | {"bundle_build_s": build_s, "queries": q_source, "student": student}

        sec[opts.e2e_name] = _section(opts.e2e_name, e2e)
    if "generator" in parts:
        from load_tests.bench_e2e import generator_overhead

        sec["generator"] = _section("generator overhead", lambda: generator_overhead(
            work, duration=2 if opts.quick else 5))

    if opts.only and perf_path.exists():  # merge with parts another run wrote meanwhile
        latest = json.loads(perf_path.read_text()).get("sections", {})
        mine = _section_names(parts, opts.e2e_name)
        sec = doc["sections"] = {**latest, **{k: v for k, v in sec.items() if k in mine}}
    doc.update(headline(sec))
    doc["machine"] = describe()
    doc["command"] = opts.command
    doc["commands"] = sorted({s["_meta"]["command"] for s in sec.values() if "command" in s.get("_meta", {})})
    doc["queries"] = q_source
    doc["quick"] = opts.quick
    doc["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    from load_tests.bench_report import write_perf

    for p in write_perf(opts.out, doc):
        _log(f"wrote {p}")
    return doc


def _section_names(parts: list[str], e2e_name: str) -> set[str]:
    names = {"teacher": "teacher_vs_student", "encode": "query_encoding", "retrieval": "retrieval",
             "e2e": e2e_name, "generator": "generator"}
    return {names[p] for p in parts}


def median_run(e2e: dict) -> dict:
    """The fixed-rate run with the median p99 (the lower middle one for an even count)."""
    runs = sorted(e2e["fixed_rate"]["runs"], key=lambda r: r["latency_ms"]["p99_ms"])
    return runs[(len(runs) - 1) // 2]


def headline(sec: dict) -> dict:
    """The three required keys, plus the targets and whether they were met."""
    ts = sec.get("teacher_vs_student", {})
    e2e = sec.get("end_to_end", {})
    # CPU time of the same calls: on this shared machine wall time also counts waiting for a core.
    speedup = ts.get("speedup_cpu_p50", ts.get("speedup_p50"))
    p99 = median_run(e2e)["latency_ms"]["p99_ms"] if e2e.get("fixed_rate") else None
    max_rps = e2e.get("sweep", {}).get("max_rps_meeting_slo") if e2e else None
    variants = {}
    for name, v in sec.items():
        if name.startswith("end_to_end_"):
            variants[name] = {"server_env": v.get("server_env"),
                              "rank_p99_ms_at_200rps_1M_ads": median_run(v)["latency_ms"]["p99_ms"],
                              "max_rps_at_p99_20ms": v.get("sweep", {}).get("max_rps_meeting_slo")}
    return {
        "e2e_variants": variants,
        "student_vs_teacher_speedup_100_ads": speedup,
        "rank_p99_ms_at_200rps_1M_ads": p99,
        "rank_p99_ms_at_200rps_1M_ads_each_run": [r["latency_ms"]["p99_ms"] for r in e2e["fixed_rate"]["runs"]]
        if e2e.get("fixed_rate") else None,
        "max_rps_at_p99_20ms": max_rps,
        "targets": {
            "student_vs_teacher_speedup_100_ads": {"target": ">= 100",
                                                   "met": None if speedup is None else speedup >= 100},
            "rank_p99_ms_at_200rps_1M_ads": {"target": "<= 10", "met": None if p99 is None else p99 <= 10},
        },
    }


def main() -> None:
    import typer

    from load_tests.cli import bench

    typer.run(bench)


if __name__ == "__main__":
    main()
