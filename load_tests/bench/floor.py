"""Benchmark part `floor` (`twinrank bench --only floor`): each /rank stage's measured cost against the floor of
this design, and where the difference goes.

- **encode**: the int8 query tower at batch 1 and one thread, in-process (ONNX Runtime, the session the service
  makes; tokenisation apart), CPU per query, median over the queries; against its floor: the tower's own GEMMs
  (every MatMul-like node's shape as ONNX Runtime ran it, from its profiler) run alone as one graph of bare
  `MatMulInteger` (u8 × s8 → s32) and float `MatMul` nodes of those shapes, the same queries' token counts. The
  rest is split by op type from ONNX Runtime's profiler.
- **search**: the served `candidates` stage CPU per request (from /metrics) against the bundle's FAISS index alone,
  in-process, one thread, one query per call, with its search params and the service's k, over the bundle query
  tower's vectors of the same queries.
- **HTTP+JSON**: the service's CPU per request minus its stage CPU (everything that is not model work) against an
  echo route through the same uvicorn stack (`service.api.echo_app`: the service's uvicorn options, a fixed body
  the size of a real /rank response), both at the same fixed rate, runs alternating, CPU = server process CPU /
  requests (as `end_to_end`). Request validation and response serialisation are timed in-process beside it.
- **total**: the sum of the floors against the service's CPU per request.
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

INT8_GEMMS = {"DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MatMulInteger", "QGemm", "QLinearMatMul"}
FLOAT_GEMMS = {"MatMul", "FusedMatMul", "Gemm"}
OP_GROUPS = {  # ONNX Runtime op type (after graph optimisation) → the group the encode breakdown names
    "int8 GEMM (incl. fused activation quantise/dequantise)": INT8_GEMMS,
    "float GEMM (attention scores, context)": FLOAT_GEMMS,
    "LayerNorm": {"LayerNormalization", "SkipLayerNormalization", "SimplifiedLayerNormalization",
                  "SkipSimplifiedLayerNormalization", "EmbedLayerNormalization"},
    "Softmax": {"Softmax"},
    "GELU": {"Gelu", "FastGelu", "BiasGelu", "Erf"},
    "quantise/dequantise": {"DynamicQuantizeLinear", "DequantizeLinear", "QuantizeLinear"},
    "Gather (embeddings, shapes)": {"Gather", "GatherElements"},
    "shape plumbing": {"Shape", "Reshape", "Unsqueeze", "Squeeze", "Concat", "Transpose", "Expand", "Slice",
                       "ConstantOfShape", "Range", "Cast", "Flatten"},
}
OTHER_OPS = "other ops (elementwise, masks, pooling)"
OUTSIDE = "outside kernels (session run, executor)"
SERVED_ENV = {"TWINRANK_QUERY_CACHE_SIZE": "0", "TWINRANK_RELOAD_ENABLED": "false"}  # as the e2e part
# Every answer carries its top 10 ads, as a real answer does: a synthetic catalog's relevances and scores can fall
# under the default relevance threshold and reserve, which would leave the answers (and the JSON work) empty.
REQUEST_EXTRA = {"min_relevance": 0.0, "reserve": None}


def _group(op: str) -> str:
    return next((g for g, ops in OP_GROUPS.items() if op in ops), OTHER_OPS)


def _ms(seconds: list[float]) -> float:
    return round(statistics.median(seconds) * 1000, 4)


def _dims(shape_entry: dict) -> list[int]:
    return list(next(iter(shape_entry.values())))


# ---- encode --------------------------------------------------------------------------------------------------
def gemm_shapes(args: dict) -> tuple[str, int, int, int, int] | None:
    """(kind, batch, rows, K, N) of a GEMM node from its profiler event's shapes (A × B → out; K from A's size, so
    transposed or batched operands are counted right); None for other ops."""
    op = args["op_name"]
    kind = "int8" if op in INT8_GEMMS else "float" if op in FLOAT_GEMMS else None
    if kind is None:
        return None
    a, out = _dims(args["input_type_shape"][0]), _dims(args["output_type_shape"][0])
    if kind == "int8" or len(out) < 3:
        batch, rows = 1, int(np.prod(out[:-1]))
    else:
        batch, rows = int(np.prod(out[:-2])), out[-2]
    k = int(np.prod(a)) // (batch * rows)
    return kind, batch, rows, k, out[-1]


def read_profile(path: Path, skip_runs: int) -> list[dict]:
    """Per `model_run` after the first `skip_runs` (warm-up): its duration and its kernels' (op, µs, args)."""
    events = json.loads(path.read_text())
    runs = sorted((e for e in events if e.get("cat") == "Session" and e["name"] == "model_run"),
                  key=lambda e: e["ts"])
    kernels = sorted((e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")),
                     key=lambda e: e["ts"])
    out, j = [], 0
    for run in runs:
        end = run["ts"] + run["dur"]
        mine = []
        while j < len(kernels) and kernels[j]["ts"] < end:
            if kernels[j]["ts"] >= run["ts"]:
                mine.append((kernels[j]["args"]["op_name"], kernels[j]["dur"], kernels[j]["args"]))
            j += 1
        out.append({"dur_us": run["dur"], "kernels": mine})
    return out[skip_runs:]


def gemm_twin(gemms: list[tuple[str, int, int, int, int]]) -> bytes:
    """One ONNX graph with a bare GEMM node per entry (u8 × s8 `MatMulInteger` with constant int8 weights, or float
    `MatMul` of two inputs), each on its own input with a dynamic row count (and inner size, for float: attention's
    context product runs over the tokens): the tower's GEMMs and nothing else."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inputs, outputs, inits = [], [], [], []
    for i, (kind, batch, _, k, n) in enumerate(gemms):
        a, y = f"a{i}", f"y{i}"
        if kind == "int8":
            inputs.append(helper.make_tensor_value_info(a, TensorProto.UINT8, [f"r{i}", k]))
            inits += [numpy_helper.from_array(rng.integers(-127, 128, (k, n), dtype=np.int8), f"w{i}"),
                      numpy_helper.from_array(np.array(128, np.uint8), f"az{i}"),
                      numpy_helper.from_array(np.array(0, np.int8), f"wz{i}")]
            nodes.append(helper.make_node("MatMulInteger", [a, f"w{i}", f"az{i}", f"wz{i}"], [y]))
            outputs.append(helper.make_tensor_value_info(y, TensorProto.INT32, [f"r{i}", n]))
        else:
            b = f"b{i}"
            inputs += [helper.make_tensor_value_info(a, TensorProto.FLOAT, [batch, f"r{i}", f"k{i}"]),
                       helper.make_tensor_value_info(b, TensorProto.FLOAT, [batch, f"k{i}", f"c{i}"])]
            nodes.append(helper.make_node("MatMul", [a, b], [y]))
            outputs.append(helper.make_tensor_value_info(y, TensorProto.FLOAT, [batch, f"r{i}", f"c{i}"]))
    graph = helper.make_graph(nodes, "tower_gemms", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _twin_feeds(gemms: list[tuple[str, int, int, int, int]]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    feeds: dict[str, np.ndarray] = {}
    for i, (kind, batch, rows, k, n) in enumerate(gemms):
        if kind == "int8":
            feeds[f"a{i}"] = rng.integers(0, 256, (rows, k), dtype=np.uint8)
        else:
            feeds[f"a{i}"] = rng.standard_normal((batch, rows, k), dtype=np.float32)
            feeds[f"b{i}"] = rng.standard_normal((batch, k, n), dtype=np.float32)
    return feeds


def _cpu_call(fn: Callable[[], object]) -> float:
    c0 = time.thread_time()
    fn()
    return time.thread_time() - c0


def _profiled(sessions: list, feeds: list[list[dict]], work: Path) -> list[list[dict]]:
    """Each session's per-run profile over its feeds: the sessions take turns run by run (so machine load falls
    on them alike), after one warm-up pass each that is not kept."""
    from service.runtime.onnx_model import make_session

    profs = [make_session(s, 1, profile_prefix=str(work / f"floor_profile_{i}")) for i, s in enumerate(sessions)]
    for prof, fs in zip(profs, feeds, strict=True):
        for f in fs:
            prof.run(None, f)
    for i in range(len(feeds[0])):
        for prof, fs in zip(profs, feeds, strict=True):
            prof.run(None, fs[i])
    out = []
    for prof, fs in zip(profs, feeds, strict=True):
        path = Path(prof.end_profiling())
        runs = read_profile(path, skip_runs=len(fs))
        path.unlink(missing_ok=True)  # tens of MB; the summary is what is kept
        if len(runs) != len(fs):
            raise RuntimeError(f"a profile has {len(runs)} timed runs for {len(fs)} inputs")
        out.append(runs)
    return out


class EncodeFloor:
    """The query tower's CPU per query vs its GEMM floor, and the difference split by op group: set up here, timed
    by `round` (callable between other parts' runs, so the timings span the same machine load), then `result`."""

    def __init__(self, model_dir: Path, queries: list[str], work: Path, threads: int = 1) -> None:
        from load_tests.bench.student_vectors import tower
        from service.runtime.onnx_model import make_session

        self.model_dir, self.queries, self.work, self.threads = model_dir, queries, work, threads
        self.qt = qt = tower(model_dir, "query", threads)
        arrays = [qt.text([q]) for q in queries]
        self.tokens = [int(ids.shape[1]) for ids, _ in arrays]
        self.tokenize = [_cpu_call(lambda q=q: qt.text([q])) for q in queries]
        self.feeds = [{"input_ids": ids, "attention_mask": mask} for ids, mask in arrays]

        # the shapes of every GEMM the optimised tower runs, per query (from a profile), then the bare-GEMM twin
        (shape_runs,) = _profiled([self.graph], [self.feeds[:1] + self.feeds], work)  # first query twice: warm-up
        self.gemms = [[s for _, _, args in r["kernels"] if (s := gemm_shapes(args))] for r in shape_runs[1:]]
        self.kinds = [x[0] for x in self.gemms[0]]
        if any([x[0] for x in g] != self.kinds for g in self.gemms):
            raise RuntimeError("the tower runs a different set of GEMMs for different queries")
        self.twin_graph = gemm_twin(self.gemms[0])
        self.twin = make_session(self.twin_graph, threads)
        self.twin_feeds = [_twin_feeds(g) for g in self.gemms]
        for f, tf in zip(self.feeds, self.twin_feeds, strict=True):  # warm: every shape once in both sessions
            qt.encoder(f["input_ids"], f["attention_mask"])
            self.twin.run(None, tf)
        self.tower_cpu: list[list[float]] = [[] for _ in queries]
        self.floor_cpu: list[list[float]] = [[] for _ in queries]
        self.rounds = 0

    @property
    def graph(self) -> Path:
        return self.qt.encoder.model.path

    def round(self) -> None:
        """Every query once through the tower and once through the twin, interleaved, the order alternating."""
        r = self.rounds
        for i, (f, tf) in enumerate(zip(self.feeds, self.twin_feeds, strict=True)):
            calls = [(self.tower_cpu, lambda f=f: self.qt.encoder(f["input_ids"], f["attention_mask"])),
                     (self.floor_cpu, lambda tf=tf: self.twin.run(None, tf))]
            for sink, call in calls if (i + r) % 2 == 0 else calls[::-1]:
                sink[i].append(_cpu_call(call))
        self.rounds += 1

    def result(self) -> dict:
        queries, work, threads, model_dir, tokens = self.queries, self.work, self.threads, self.model_dir, self.tokens
        feeds, twin_feeds, twin_graph, per_query_gemms, kinds = (self.feeds, self.twin_feeds, self.twin_graph,
                                                                 self.gemms, self.kinds)
        graph, rounds, tokenize = self.graph, self.rounds, self.tokenize
        tower_q = [min(s) for s in self.tower_cpu]  # each query's best round: the least disturbed by other processes
        floor_q = [min(s) for s in self.floor_cpu]
        measured, floor_ms = _ms(tower_q), _ms(floor_q)

        # where measured − floor goes: tower and twin profiled turn about; each op group's profiled time beyond the
        # bare GEMMs, the difference shared out in proportion (profiled times are wall clock with a per-node cost)
        tower_runs, twin_runs = _profiled([graph, twin_graph], [feeds, twin_feeds], work)
        by_group: dict[str, float] = defaultdict(float)
        by_op: dict[str, float] = defaultdict(float)
        for r in tower_runs:
            for op, dur, _ in r["kernels"]:
                by_group[_group(op)] += dur / len(tower_runs)
                by_op[op] += dur / len(tower_runs)
        tower_us = statistics.fmean(r["dur_us"] for r in tower_runs)
        twin_us = statistics.fmean(sum(d for _, d, _ in r["kernels"]) for r in twin_runs)
        gemm_groups = [g for g in by_group if "GEMM" in g]
        tower_gemm_us = sum(by_group[g] for g in gemm_groups)
        beyond = {"GEMM ops beyond the bare GEMMs (fused activation quantise/dequantise, kernel choice)":
                  tower_gemm_us - twin_us} | {g: us for g, us in by_group.items() if g not in gemm_groups}
        beyond[OUTSIDE] = tower_us - sum(by_group.values())
        positive = sum(max(v, 0.0) for v in beyond.values()) or 1.0
        diff = measured - floor_ms
        where = {g: {"profiled_us": round(us, 1), "ms": round(max(us, 0.0) / positive * diff, 4),
                     "ops": sorted(op for op in by_op if _group(op) == g)}
                 for g, us in sorted(beyond.items(), key=lambda kv: -kv[1])}

        macs = {kind: [sum(b * rows * k * n for kd, b, rows, k, n in g if kd == kind) for g in per_query_gemms]
                for kind in ("int8", "float")}
        mac_total = statistics.median(a + b for a, b in zip(macs["int8"], macs["float"], strict=True))
        median_query = tokens.index(sorted(tokens)[len(tokens) // 2])
        return {
            "model": str(model_dir), "queries": len(queries), "rounds": rounds, "threads": threads,
            "tokens": {"median": statistics.median(tokens), "min": min(tokens), "max": max(tokens)},
            "measured_ms": measured, "measured_ms_p90": round(float(np.percentile(tower_q, 90)) * 1000, 4),
            "floor_ms": floor_ms,
            "macs_per_query": {"int8_median": int(statistics.median(macs["int8"])),
                               "float_median": int(statistics.median(macs["float"]))},
            "gemm_rate_gmacs": round(mac_total / (floor_ms / 1000) / 1e9, 2) if floor_ms else None,
            "gemm_nodes": {"int8": kinds.count("int8"), "float": kinds.count("float")},
            "gemm_shapes_median_query": [list(x) for x in per_query_gemms[median_query]],
            "tokenize_ms": _ms(tokenize),
            "profile": {"runs": len(tower_runs), "tower_run_us": round(tower_us, 1),
                        "tower_gemm_kernels_us": round(tower_gemm_us, 1), "bare_gemm_kernels_us": round(twin_us, 1),
                        "where_the_difference_goes": where,
                        "by_op_us": {op: round(us, 1) for op, us in sorted(by_op.items(), key=lambda kv: -kv[1])}},
            "floor_method": ("the tower's own GEMMs (each query's shapes from ONNX Runtime's profile) as one graph of "
                             "bare MatMulInteger u8×s8 / float MatMul nodes, same session options, one call per query; "
                             "tower and floor interleaved, each query's best of the rounds, thread CPU, median"),
        }


# ---- search --------------------------------------------------------------------------------------------------
class SearchFloor:
    """The bundle's FAISS index alone, one thread, one query per call, over its query tower's vectors of
    `queries`; plus the stored-vector fetch the candidates stage does after the search. Timed by `round`."""

    def __init__(self, version_dir: Path, queries: list[str], k: int) -> None:
        import faiss

        from service.bundle import load_manifest
        from service.runtime.index import AdIndex, AdVectors
        from service.runtime.towers import OnnxTower

        self.m = m = load_manifest(version_dir)
        faiss.omp_set_num_threads(1)
        self.index = AdIndex(version_dir / m.index.file, m.model.dim, m.index.n_ads, m.index.search_params)
        self.vectors = AdVectors(version_dir / m.index.vectors_file, m.model.dim, m.index.n_ads,
                                 m.index.vectors_dtype, m.index.vectors_scale)
        self.xq = OnnxTower.from_manifest(version_dir, m, "query", int8=True).encode_sorted(queries)
        self.k = min(k, m.index.n_ads)
        self.rows = [self.index.search(q[None, :], self.k)[1][0] for q in self.xq]  # warm-up; the rows fetched
        self.search: list[float] = []
        self.fetch: list[float] = []
        self.rounds = 0

    def round(self) -> None:
        for q, r in zip(self.xq, self.rows, strict=True):
            self.search.append(_cpu_call(lambda q=q: self.index.search(q[None, :], self.k)))
            self.fetch.append(_cpu_call(lambda r=r: self.vectors.rows(r[r >= 0])))
        self.rounds += 1

    def result(self) -> dict:
        m, search, fetch = self.m, self.search, self.fetch
        return {"n_ads": m.index.n_ads, "factory": m.index.factory, "search_params": m.index.search_params,
                "k": self.k, "queries": len(self.xq), "rounds": self.rounds,
                "search_cpu_ms_mean": round(statistics.fmean(search) * 1000, 4), "search_cpu_ms_p50": _ms(search),
                "fetch_cpu_ms_mean": round(statistics.fmean(fetch) * 1000, 4)}


# ---- HTTP + JSON ---------------------------------------------------------------------------------------------
def _post(url: str, body: bytes) -> bytes:
    req = urllib.request.Request(f"{url}/rank", data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def json_costs(request: bytes, response: bytes, n: int = 2000) -> dict:
    """In-process CPU of the JSON work one /rank request does: validating the request body into the service's
    `RankRequest` (pydantic-core from bytes) and serialising a response of this size with orjson."""
    import orjson

    from service.schemas import RankRequest

    doc = orjson.loads(response)
    for _ in range(100):
        RankRequest.model_validate_json(request)
        orjson.dumps(doc)
    parse = [_cpu_call(lambda: RankRequest.model_validate_json(request)) for _ in range(n)]
    dump = [_cpu_call(lambda: orjson.dumps(doc)) for _ in range(n)]
    return {"request_bytes": len(request), "response_bytes": len(response),
            "validate_request_ms": round(statistics.fmean(parse) * 1000, 4),
            "serialise_response_ms": round(statistics.fmean(dump) * 1000, 4)}


def _fixed_rate_run(server, queries: str | None, rate: float, duration: float, warmup: float,
                    with_stages: bool) -> dict:
    from load_tests.bench.end_to_end import per_request_cpu
    from load_tests.tools.loadtest import run_loadtest
    from load_tests.tools.server_metrics import served_requests
    from load_tests.tools.spec import LoadTestSpec

    cpu0 = server.cpu_seconds()
    counters0 = server.cpu_counters() if with_stages else None
    doc = run_loadtest(LoadTestSpec(url=server.url, rates=[rate], duration=duration, warmup=warmup, queries=queries,
                                    top_k=10, ready_timeout=0, progress=False, extra=REQUEST_EXTRA), None)
    run = doc["runs"][0]
    cpu = server.cpu_seconds() - cpu0
    served = served_requests(run, rate, warmup)
    out = {"cpu_ms_per_request": round(cpu * 1000 / served, 4), "p50_ms": run["latency_ms"]["p50_ms"],
           "p99_ms": run["latency_ms"]["p99_ms"], "sent": run["sent"], "ok": run.get("ok"), "errors": run["errors"]}
    if counters0 is not None:
        by_thread, by_stage = per_request_cpu(counters0, server.cpu_counters(), cpu, served)
        out |= {"by_stage": by_stage, "by_thread": by_thread,
                "non_model_ms": round(out["cpu_ms_per_request"] - sum(by_stage.values()), 4)}
    return out


def served_vs_echo(work: Path, bundles: Path, queries: str | None, sample_query: str, rate: float,
                   duration: float, repeats: int, warmup: float, log: Callable[[str], None],
                   server_env: dict[str, str] | None = None, between: Callable[[], None] = lambda: None) -> dict:
    """Fixed-rate runs of the service and of the echo route (fixed body the size of a real /rank answer),
    alternating, a fresh echo process per run and one service process for all; `between` runs before each
    served run (the in-process parts' rounds, so they span the same machine load)."""
    from common.net import free_port
    from load_tests.bench.server import Server, asgi_echo_server
    from load_tests.generator.http1 import Target
    from load_tests.tools.loadtest import wait_ready

    env = {**SERVED_ENV, **(server_env or {})}
    server = Server(bundles, free_port(), work / "floor-serve.log", env)
    served, echoed = [], []
    try:
        wait_ready(Target.parse(server.url), "/readyz", 600.0)
        request = json.dumps({"query": sample_query, "top_k": 10, "defect_weight": 0.5, **REQUEST_EXTRA}).encode()
        response = _post(server.url, request)
        for i in range(repeats):
            between()
            first = 2.5 * warmup if i == 0 else warmup  # a fresh server's first seconds: index pages, ORT arenas
            served.append(_fixed_rate_run(server, queries, rate, duration, first, with_stages=True))
            log(f"floor: service run {i + 1}: {served[-1]['cpu_ms_per_request']} ms CPU/request")
            echo = asgi_echo_server(free_port(), work / f"floor-echo-{i}.log", len(response))
            try:
                wait_ready(Target.parse(echo.url), "/", 60.0)
                echoed.append(_fixed_rate_run(echo, queries, rate, duration, warmup, with_stages=False))
            finally:
                echo.stop()
            log(f"floor: echo run {i + 1}: {echoed[-1]['cpu_ms_per_request']} ms CPU/request")
    finally:
        server.stop()

    def median(runs: list[dict], key: str) -> float:
        return round(statistics.median(r[key] for r in runs), 4)

    stages = sorted(served[0]["by_stage"])
    return {"rate_rps": rate, "duration_s": duration, "repeats": repeats, "server_env": env,
            "served_runs": served, "echo_runs": echoed,
            "served": {"cpu_ms_per_request": median(served, "cpu_ms_per_request"),
                       "non_model_ms": median(served, "non_model_ms"),
                       "by_stage": {s: round(statistics.median(r["by_stage"][s] for r in served), 4) for s in stages},
                       "p99_ms": median(served, "p99_ms")},
            "echo": {"cpu_ms_per_request": median(echoed, "cpu_ms_per_request"), "p99_ms": median(echoed, "p99_ms"),
                     "body_bytes": len(response)},
            "json": json_costs(request, response)}


# ---- the part ------------------------------------------------------------------------------------------------
def floor(work: Path, bundles: Path, model_dir: Path, query_texts: list[str], queries_file: str | None,
          rate: float = 200.0, duration: float = 20.0, repeats: int = 3, warmup: float = 2.0, n_encode: int = 300,
          n_search: int = 300, e2e: dict | None = None, server_env: dict[str, str] | None = None,
          log: Callable[[str], None] = print) -> dict:
    """All rows of the floor table. `e2e`: the perf.json end_to_end section, whose stage CPU is shown beside this
    part's own served runs (the two differ by machine load; the table uses this part's, measured alongside)."""
    from service.bundle import current_version_dir
    from service.settings import Settings

    work.mkdir(parents=True, exist_ok=True)
    texts = list(dict.fromkeys(query_texts))
    log(f"floor: setting up encode ({min(n_encode, len(texts))} queries) and search")
    encode = EncodeFloor(model_dir, texts[:n_encode], work)
    version = current_version_dir(bundles)
    search = SearchFloor(version, texts[:n_search], Settings().retrieve_k)
    per_repeat = max(1, -(-3 // repeats))  # at least 3 in-process rounds in all

    def in_process_rounds() -> None:
        for _ in range(per_repeat):
            encode.round()
            search.round()

    http = served_vs_echo(work, bundles, queries_file, texts[0], rate, duration, repeats, warmup, log, server_env,
                          between=in_process_rounds)
    enc, srch = encode.result(), search.result()
    log(f"floor: encode {enc['measured_ms']} ms vs floor {enc['floor_ms']} ms; index alone "
        f"{srch['search_cpu_ms_mean']} ms")
    out = {"encode": enc, "search": srch, "http": http, "bundle": str(version.name)}
    if e2e and e2e.get("fixed_rate"):
        runs = sorted(e2e["fixed_rate"]["runs"], key=lambda r: r["server_cpu_ms_per_request"])
        mid = runs[(len(runs) - 1) // 2]
        out["e2e_median_run"] = {"server_cpu_ms_per_request": mid["server_cpu_ms_per_request"],
                                 "by_stage": mid.get("server_cpu_ms_per_request_by_stage"),
                                 "ran_at": e2e.get("_meta", {}).get("ran_at")}
    out["table"] = floor_table(out)
    out["summary"] = summary(out)
    return out


def _row(key: str, stage: str, measured: float, floor_ms: float | None, where: str) -> dict:
    ratio = round(measured / floor_ms, 2) if floor_ms else None
    return {"key": key, "stage": stage, "measured_ms": round(measured, 3), "floor_ms": None if floor_ms is None else
            round(floor_ms, 3), "ratio": ratio, "where": where}


def floor_table(d: dict) -> list[dict]:
    enc, srch, http = d["encode"], d["search"], d["http"]
    served, echo, js = http["served"], http["echo"], http["json"]
    st = served["by_stage"]
    top = list(enc["profile"]["where_the_difference_goes"].items())[:5]
    encode_where = ("; ".join(f"{g} {v['ms']:.3f}" for g, v in top if v["ms"] > 0)
                    + f". Served query_encode stage {st.get('query_encode', 0):.3f} ms CPU (tokenise "
                      f"{enc['tokenize_ms']:.3f} ms, batcher and threads the rest)")
    cand = st.get("candidates", 0.0)
    search_where = (f"FAISS search {srch['search_cpu_ms_mean']:.3f} ms, stored-vector fetch "
                    f"{srch['fetch_cpu_ms_mean']:.3f} ms in-process; the served stage's remaining "
                    f"{cand - srch['search_cpu_ms_mean'] - srch['fetch_cpu_ms_mean']:+.3f} ms: ad-table lookups, "
                    "Python around the call, cache misses on a busy core")
    rest = served["non_model_ms"] - echo["cpu_ms_per_request"] - js["validate_request_ms"] - js["serialise_response_ms"]
    http_where = (f"request validation {js['validate_request_ms']:.3f} ms, response serialisation "
                  f"{js['serialise_response_ms']:.3f} ms (in-process), the rest {rest:+.3f} ms: middleware "
                  "(request id, metrics, body limit, admission), handing the request to the batcher and back, "
                  "building the result objects")
    rows = [_row("encode", "encode (query tower, in-process)", enc["measured_ms"], enc["floor_ms"], encode_where),
            _row("search", "search (candidates stage)", cand, srch["search_cpu_ms_mean"], search_where),
            _row("http_json", "HTTP+JSON (CPU outside the stages)", served["non_model_ms"], echo["cpu_ms_per_request"],
                 http_where)]
    if "score" in st:
        rows.append(_row("score", "score (crossing head + auction)", st["score"], None, "not floored"))
    floors = enc["floor_ms"] + srch["search_cpu_ms_mean"] + echo["cpu_ms_per_request"]
    encode_served = st.get("query_encode", enc["measured_ms"])
    rows.append(_row("total", "total (CPU per request)", served["cpu_ms_per_request"], floors,
                     f"encode as served {encode_served:.3f} ms + search {cand:.3f} + score {st.get('score', 0):.3f} "
                     f"+ HTTP+JSON {served['non_model_ms']:.3f}; floors: encode + search + echo (score has none)"))
    return rows


def summary(d: dict) -> dict:
    """perf.json's top-level `floor`: measured and floor ms (and their ratio) per row."""
    return {r["key"]: {k: r[k] for k in ("measured_ms", "floor_ms", "ratio")} for r in d["table"]} | {
        "rate_rps": d["http"]["rate_rps"], "gemm_rate_gmacs": d["encode"]["gemm_rate_gmacs"]}


def floor_md(d: dict, preamble: list[str]) -> str:
    """reports/perf/floor.md: the preamble (the machine's load, the run's line), the table, each row's detail."""
    lines = ["# The floor of this design: each stage's measured cost against its floor", "", *preamble]
    if "skipped" in d:
        return "\n".join([*lines, "", d["skipped"], ""])
    enc, srch, http = d["encode"], d["search"], d["http"]
    lines += [f"- bundle `{d['bundle']}`: {srch['n_ads']:,} ads, {srch['factory']} {srch['search_params']}; "
              f"served runs and echo runs alternating, {http['repeats']} each, {http['duration_s']:g} s at "
              f"{http['rate_rps']:g} req/s (medians); CPU per request = server process CPU / requests.", "",
              "| stage | measured ms | floor ms | ratio | where the difference goes |",
              "| --- | ---: | ---: | ---: | --- |"]
    for r in d["table"]:
        fl = "—" if r["floor_ms"] is None else f"{r['floor_ms']:.3f}"
        ratio = "—" if r["ratio"] is None else f"×{r['ratio']:.2f}"
        lines.append(f"| {r['stage']} | {r['measured_ms']:.3f} | {fl} | {ratio} | {r['where']} |")
    m = enc["macs_per_query"]
    lines += ["", "## encode", "",
              f"`{enc['model']}` query tower, batch 1, {enc['threads']} thread, {enc['queries']} queries "
              f"(tokens median {enc['tokens']['median']:g}, {enc['tokens']['min']}–{enc['tokens']['max']}), "
              f"{enc['rounds']} interleaved rounds. Measured: median thread CPU per query {enc['measured_ms']:.3f} ms "
              f"(p90 {enc['measured_ms_p90']:.3f}); tokenisation apart, {enc['tokenize_ms']:.3f} ms.", "",
              f"Floor: {enc['floor_method']}. {enc['gemm_nodes']['int8']} int8 and {enc['gemm_nodes']['float']} "
              f"float GEMM nodes, {m['int8_median'] / 1e6:.1f} M int8 + {m['float_median'] / 1e6:.2f} M float MACs "
              f"per median query: {enc['floor_ms']:.3f} ms, i.e. {enc['gemm_rate_gmacs']} GMAC/s at one thread at "
              "these small-M shapes.", "",
              "Where the difference goes (ONNX Runtime's profiler, tower and bare GEMMs profiled turn about: each "
              "group's profiled time beyond the bare GEMMs, the measured difference shared out in proportion; "
              "profiled times are wall clock with a per-node profiler cost, so many-small-op groups and the time "
              "outside kernels read high):", "", "| group | profiled µs/query | share of the difference, ms | ops |",
              "| --- | ---: | ---: | --- |"]
    for g, v in enc["profile"]["where_the_difference_goes"].items():
        lines.append(f"| {g} | {v['profiled_us']:.0f} | {v['ms']:.3f} | {', '.join(v['ops'])} |")
    p = enc["profile"]
    lines += ["", f"Profiled: tower run {p['tower_run_us']:.0f} µs, its GEMM kernels {p['tower_gemm_kernels_us']:.0f} "
              f"µs, the bare GEMMs {p['bare_gemm_kernels_us']:.0f} µs.", "", "## search", "",
              f"The index alone: FAISS `{srch['factory']}` {srch['search_params']}, k={srch['k']}, one thread, one "
              f"query per call over {srch['queries']} query-tower vectors × {srch['rounds']} rounds: mean thread CPU "
              f"{srch['search_cpu_ms_mean']:.3f} ms (p50 {srch['search_cpu_ms_p50']:.3f}); the stored-vector fetch "
              f"of the hits {srch['fetch_cpu_ms_mean']:.3f} ms. Against the served `candidates` stage CPU per "
              "request.", "", "## HTTP+JSON", "",
              f"Echo route: `service.api.echo_app` under uvicorn with the service's `uvicorn_options`, a fixed "
              f"{http['echo']['body_bytes']}-byte JSON body (the size of a real /rank answer, top_k 10). JSON work "
              f"in-process: validating a {http['json']['request_bytes']}-byte request into `RankRequest` "
              f"{http['json']['validate_request_ms']:.3f} ms, serialising the answer with orjson "
              f"{http['json']['serialise_response_ms']:.3f} ms.", "",
              "CPU per request divides by every request sent, answered or refused (a 429 costs a header scan): "
              "runs with refusals understate the cost of an answer.", "",
              "| run | server | CPU ms/request | non-model ms | p99 ms | errors |",
              "| ---: | --- | ---: | ---: | ---: | --- |"]
    for i, (s, e) in enumerate(zip(http["served_runs"], http["echo_runs"], strict=True), 1):
        lines.append(f"| {i} | twinrank | {s['cpu_ms_per_request']:.3f} | {s['non_model_ms']:.3f} | "
                     f"{s['p99_ms']:.2f} | {s['errors'] or 'none'} |")
        lines.append(f"| {i} | echo | {e['cpu_ms_per_request']:.3f} | | {e['p99_ms']:.2f} | {e['errors'] or 'none'} |")
    st = http["served"]["by_stage"]
    lines += ["", "Served stage CPU per request (median): " + ", ".join(f"{k} {v:.3f} ms" for k, v in st.items())
              + "."]
    if e2e := d.get("e2e_median_run"):
        lines += ["", f"For comparison, the e2e section's median run ({e2e['ran_at']}): "
                  f"{e2e['server_cpu_ms_per_request']:.3f} ms CPU per request, by stage {e2e['by_stage']}."]
    return "\n".join(lines) + "\n"
