"""`twinrank bench`: the performance benchmarks in one run, side by side, one module per part:

1. `teacher_vs_student`: the cross-encoder teacher vs the TwinBERT student scoring 100 ads (ONNX Runtime both);
2. `query_encoding`: PyTorch vs ONNX fp32 vs ONNX int8;
3. `retrieval`: exact vs ANN over 1M vectors, with recall;
4. `end_to_end`: POST /rank over real HTTP on the 1M-ad bundle (`synthetic_bundle`), fixed rate, then a sweep;
5. `generator_overhead`: the load generator against a trivial server;
6. `retrieval_libraries` (`--only libraries`): FAISS HNSW32,SQ8 / IVF-PQ, hnswlib, usearch on the shipped
   student's vectors of real ads and on the synthetic set (addendum `retrieval_libraries.json/.md/.png`);
7. `encoder_runtimes` (`--only runtimes`): the shipped int8 query tower in ONNX Runtime vs OpenVINO, time and
   test ROC-AUC (addendum `encoder_runtimes.json/.md`);
8. `traffic` (`--only traffic`): the `--queries` file's own stream (head queries repeating) with the query cache
   on, beside the all-distinct stream with it off, on the e2e bundle (addendum `traffic.json/.md`);
9. `peers`: the user-written sentence-transformers + FAISS + FastAPI stack vs twinrank with its FastAPI route vs
   twinrank as shipped, on one sample catalog: CPU per request, highest rate at the p99 SLO, p99 at a common
   rate, test ROC-AUC (addendum `peers.json/.md/.png`);
10. `floor` (`--only floor`): each stage's measured cost against the floor of this design (`floor`: the tower's
    bare GEMMs, the index alone, an echo route through the same uvicorn stack), on the e2e bundle (addendum
    `floor.json/.md`).

Results go to `<out>/perf.json` and `<out>/perf.md` with plots (`report`; the headline figures: `headline`).
`--only` reruns some parts and keeps the others from the existing perf.json (each part records when it ran
and the load average around it).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from common.machine import describe, load_average
from load_tests.bench.addendum_report import summary_keys, write_addenda
from load_tests.bench.headline import headline

PARTS = ("teacher", "encode", "retrieval", "e2e", "generator", "libraries", "runtimes", "traffic", "peers", "floor")
SHIPPED_MODEL = Path("shipped/twinbert-de")
LIBRARY_SETS = ("student", "synthetic")  # the libraries part's vector sets (retrieval_libraries.SETS)
BENCH_OUT, BENCH_WORK = Path("reports/perf"), Path("runs/bench")
_COMMAND = ["twinrank bench"]  # the command line of this run, recorded with each part it ran


@dataclass
class BenchOptions:
    """What `twinrank bench` runs; the command's option defaults are these field defaults."""

    out: Path = BENCH_OUT
    bundle: Path | None = None
    student: Path | None = None  # the e2e bundle's model dir (`twinrank export`); default: untrained, shipped shape
    only: list[str] = field(default_factory=list)
    queries: str | None = None
    quick: bool = False
    work: Path = BENCH_WORK
    threads: int = 1
    sweep: tuple[float, ...] = (25, 50, 100, 150, 200, 300, 400, 600)
    server_env: dict[str, str] = field(default_factory=dict)
    e2e_name: str = "end_to_end"
    e2e_repeats: int = 5  # fixed-rate runs; the headline is the median run's p99
    command: str = "twinrank bench"
    model: Path = SHIPPED_MODEL  # the exported student of the libraries and runtimes parts
    qadsm_dir: Path | None = None  # QADSM {train,dev,test}.txt; default: the --queries file's directory
    student_ads: int = 100_000  # real-ad catalog size of the libraries part (QADSM ads, then sample ads)
    encode_budget_s: float = 0.0  # stop encoding that catalog after this long (0: no limit; cached, resumes)
    library_sets: tuple[str, ...] = ("student", "synthetic")
    library_synthetic_n: int | None = None  # default: the synthetic set of the retrieval part (1M; quick 100k)
    peer_model: str = "multilingual-e5-small"  # the peers part's sentence-transformers model (name or directory)
    peer_ads: int = 3000  # the peers part's sample catalog size
    peer_sweep: tuple[float, ...] = (25, 50, 100, 200, 300, 400, 600)
    peer_sweep_s: float = 15.0  # seconds per sweep rate (quick: 5)


def _log(msg: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def _ad_texts(queries_path: str | None, queries: list[str], n: int = 500) -> tuple[list[str], str]:
    """Ad texts for the teacher/student comparison: title + description from a QADSM TSV when `--queries` is one
    (read by the one QADSM reader), else project-made synthetic ads."""
    if queries_path:
        from offline.data.qadsm import pair_ad_texts, read_tsv
        from offline.errors import DataError

        try:
            return pair_ad_texts(read_tsv(queries_path, n)), "QADSM title + description (read at run time)"
        except DataError:  # a plain query file (one per line): no ads in it
            pass
    from load_tests.generator.mix import synthetic_ads

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
    from load_tests.generator.queries import load_queries

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
        from load_tests.bench.teacher_vs_student import teacher_vs_student

        ads, ad_source = _ad_texts(opts.queries, queries)
        sec["teacher_vs_student"] = _section("teacher vs student", lambda: teacher_vs_student(
            work, queries, ads, threads=opts.threads, repeats=3 if opts.quick else 12) | {"ad_texts": ad_source})
    if "encode" in parts:
        from load_tests.bench.query_encoding import query_encoding

        sec["query_encoding"] = _section("query encoding", lambda: query_encoding(
            work, queries, threads=opts.threads, repeats=50 if opts.quick else 300))
    bundles = opts.bundle or work / f"bundles-{n_vec}"  # the 1M-ad bundle of the e2e part
    if "retrieval" in parts:
        from load_tests.bench.retrieval import retrieval

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
    def e2e_bundle() -> float:
        """Build (or find) the e2e part's 1M-ad bundle; seconds it took."""
        from load_tests.bench.retrieval import synthetic_vectors
        from load_tests.bench.student_models import build_student
        from load_tests.bench.synthetic_bundle import build_synthetic_bundle

        t0 = time.perf_counter()
        vec_path, _ = synthetic_vectors(work, n_vec)
        version = build_synthetic_bundle(bundles, opts.student or build_student(work), vec_path)
        build_s = round(time.perf_counter() - t0, 1)
        _log(f"bundle {version.name} ready after {build_s} s")
        return build_s

    if "e2e" in parts:
        from load_tests.bench.end_to_end import end_to_end

        def e2e() -> dict:
            build_s = e2e_bundle()
            res = end_to_end(work, bundles, opts.queries, duration=10 if opts.quick else 30,
                             sweep_rates=opts.sweep, sweep_duration=5 if opts.quick else 15,
                             server_env=opts.server_env, repeats=1 if opts.quick else opts.e2e_repeats)
            student = str(opts.student) if opts.student else "untrained student of the shipped shape"
            return res | {"bundle_build_s": build_s, "queries": q_source, "student": student}

        sec[opts.e2e_name] = _section(opts.e2e_name, e2e)
    if "generator" in parts:
        from load_tests.bench.generator_overhead import generator_overhead

        sec["generator"] = _section("generator overhead", lambda: generator_overhead(
            work, duration=2 if opts.quick else 5))

    if "traffic" in parts:
        from load_tests.bench.traffic import realistic_traffic

        def traffic() -> dict:
            if not opts.queries:
                return {"skipped": "needs --queries (the test split, whose row stream is replayed)"}
            build_s = e2e_bundle()
            return realistic_traffic(work, bundles, opts.queries, repeats=1 if opts.quick else 3,
                                     duration=10 if opts.quick else None, log=_log) | {"bundle_build_s": build_s}

        sec["traffic"] = _section("traffic", traffic)

    if "floor" in parts:
        from load_tests.bench.floor import floor

        def floor_part() -> dict:
            build_s = e2e_bundle()
            return floor(work, bundles, opts.model, queries, opts.queries, repeats=1 if opts.quick else 3,
                         duration=8 if opts.quick else 20, n_encode=60 if opts.quick else 300,
                         n_search=100 if opts.quick else 300, e2e=sec.get(opts.e2e_name),
                         server_env=opts.server_env, log=_log) | {
                             "bundle_build_s": build_s}

        sec["floor"] = _section("floor", floor_part)

    qadsm_dir = opts.qadsm_dir or _qadsm_dir(opts.queries)
    if "libraries" in parts:
        from load_tests.bench.retrieval_libraries import retrieval_libraries

        sec["retrieval_libraries"] = _section("retrieval libraries", lambda: retrieval_libraries(
            work, opts.library_sets, opts.model, qadsm_dir, opts.student_ads, opts.encode_budget_s,
            opts.library_synthetic_n or n_vec, quick=opts.quick, log=_log,
            previous=sec.get("retrieval_libraries")))
        for name in opts.library_sets:  # each set names the command that produced it (sets are rerun apart)
            sec["retrieval_libraries"]["sets"][name].setdefault("_meta", {})["command"] = opts.command
    if "runtimes" in parts:
        from load_tests.bench.encoder_runtimes import encoder_runtimes

        sec["encoder_runtimes"] = _section("encoder runtimes", lambda: encoder_runtimes(
            work, opts.model, qadsm_dir, queries, threads=opts.threads, n_timed=60 if opts.quick else 300,
            log=_log, auc_limit=1000 if opts.quick else None))
    if "peers" in parts:
        from load_tests.bench.peers import peers

        sec["peers"] = _section("peers", lambda: peers(
            work, opts.model, opts.peer_model, opts.queries, qadsm_dir, n_ads=opts.peer_ads, rates=opts.peer_sweep,
            duration=min(opts.peer_sweep_s, 5.0) if opts.quick else opts.peer_sweep_s,
            auc_limit=1000 if opts.quick else None, log=_log))

    if opts.only and perf_path.exists():  # merge with parts another run wrote meanwhile
        latest = json.loads(perf_path.read_text()).get("sections", {})
        mine = _section_names(parts, opts.e2e_name)
        merged = {**latest, **{k: v for k, v in sec.items() if k in mine}}
        if "libraries" in parts and "retrieval_libraries" in latest:  # keep sets another run wrote meanwhile
            ran = {k: v for k, v in sec["retrieval_libraries"]["sets"].items() if k in opts.library_sets}
            merged["retrieval_libraries"]["sets"] = {**latest["retrieval_libraries"].get("sets", {}), **ran}
        sec = doc["sections"] = merged
    doc.update(headline(sec))
    doc.update(summary_keys(sec))
    doc["machine"] = describe()
    doc["command"] = opts.command
    doc["commands"] = sorted({s["_meta"]["command"] for s in sec.values() if "command" in s.get("_meta", {})})
    doc["queries"] = q_source
    doc["quick"] = opts.quick
    doc["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    from load_tests.bench.report import write_perf

    for p in [*write_perf(opts.out, doc), *write_addenda(opts.out, sec)]:
        _log(f"wrote {p}")
    return doc


def _section_names(parts: list[str], e2e_name: str) -> set[str]:
    names = {"teacher": "teacher_vs_student", "encode": "query_encoding", "retrieval": "retrieval",
             "e2e": e2e_name, "generator": "generator", "libraries": "retrieval_libraries",
             "runtimes": "encoder_runtimes", "traffic": "traffic", "peers": "peers", "floor": "floor"}
    return {names[p] for p in parts}


def _qadsm_dir(queries: str | None) -> Path | None:
    """The directory of a `--queries` QADSM split file when it holds all three splits."""
    if not queries:
        return None
    d = Path(queries).parent
    return d if all((d / f"{s}.txt").is_file() for s in ("train", "dev", "test")) else None
