"""The perf addenda `twinrank bench` writes beside perf.json for the libraries and runtimes parts:
retrieval_libraries.json/.md/.png and encoder_runtimes.json/.md, plus their summary keys in perf.json."""

from __future__ import annotations

from pathlib import Path

from common.files import atomic_write, write_json

LOAD_NOTE = ("**Machine load:** measured on the project's shared 2-core VM while other sessions ran tests (load "
             "average ~4–10 on 2 cores this session, heavily loaded; each run's own figures are in `_meta`). "
             "Absolute times are inflated and noisy; every comparison was measured side by side, interleaved in "
             "one process, so read the ratios.")


def summary_keys(sec: dict) -> dict:
    """perf.json's top-level `retrieval_libraries` and `encoder_runtimes`: the verdicts; details in sections."""
    out: dict = {}
    if rl := sec.get("retrieval_libraries"):
        out["retrieval_libraries"] = {name: {"n": s["n"], **s["verdict"]} if "verdict" in s else s
                                      for name, s in rl.get("sets", {}).items()}
    if (tr := sec.get("traffic")) and "median" in tr:
        out["traffic"] = {"rate_rps": tr["rate_rps"], **tr["median"],
                          "cpu_ratio_replay_vs_distinct": tr["cpu_ratio_replay_vs_distinct"]}
    if (fl := sec.get("floor")) and "summary" in fl:
        out["floor"] = fl["summary"]
    if er := sec.get("encoder_runtimes"):
        out["encoder_runtimes"] = er.get("decision") or {"skipped": er.get("skipped")}
        if er.get("auc"):
            out["encoder_runtimes"] = out["encoder_runtimes"] | {
                "roc_auc": {k: v["roc_auc"] for k, v in er["auc"]["runtimes"].items()}}
    return out


def _f(x, nd: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{nd}f}"


def _mib(b: int | None) -> str:
    return "n/a" if b is None else f"{b / 2**20:.1f}"


def libraries_md(rl: dict) -> str:
    meta = rl.get("_meta", {})
    lines = ["# Retrieval libraries side by side", "", LOAD_NOTE, "",
             f"- last command: `{meta.get('command')}`; ran {meta.get('ran_at')} for {meta.get('seconds')} s; "
             f"load average before {meta.get('load_average_before')}, after {meta.get('load_average_after')} "
             "(each set below says when it ran; `--library-sets` reruns one and keeps the other)",
             "- recall@100 against exact search (FAISS flat inner product); latency: one query per call, one "
             "search thread, interleaved across every operating point (p50/p99 over the timed queries); build: "
             "the builders' own threads (2); index bytes: serialised size; RSS growth: process RSS after the build "
             "minus before (includes the builder's freed-but-kept memory).",
             "- Graph settings are the bundles' (M=32, efConstruction=80) for every HNSW library; the search "
             "knob is swept, k=100 (so every graph searches ≥ 100 candidates).",
             "- A library 'wins' only if some operating point has recall@100 ≥ the shipped point's (FAISS "
             "HNSW32,SQ8 at the bundles' efSearch) and a lower p50.", ""]
    for name, s in rl.get("sets", {}).items():
        if "skipped" in s:
            lines += [f"## {name}", "", s["skipped"], ""]
            continue
        lines += [f"## {name}: {s['n']:,} vectors, dim {s['dim']}", ""]
        if sm := s.get("_meta"):
            lines += [f"Ran {sm.get('ran_at')}, load average before {sm.get('load_average_before')}, after "
                      f"{sm.get('load_average_after')}" + (f"; command `{sm['command']}`" if sm.get("command")
                                                             else "") + ".", ""]
        v = s.get("vectors", {})
        if "ads" in v:
            a, q = v["ads"], v["queries"]
            src = ", ".join(f"{k} {n:,}" for k, n in a.get("by_source", {}).items() if n)
            lines += [f"Vectors of `{v['model']}`: **{a['got']:,} ads** ({src}) through its int8 ad tower "
                      f"(asked {a['asked']:,}; encoding stopped at the time budget: the ad tower runs "
                      f"~{a.get('ms_per_text_now') or 'n/a'} ms per ad here; run with a larger "
                      "`--encode-budget-s` or `0` on a faster machine for 100k); queries: "
                      f"{q['got']:,} {q['source']}.", ""]
        else:
            lines += [f"Vectors: {v.get('source')}.", ""]
        lines += [f"Exact (FAISS flat IP), one thread: p50 {s['exact_flat']['p50_ms']:.3f} ms, "
                  f"p99 {s['exact_flat']['p99_ms']:.3f} ms. Recall over {s['n_recall_queries']} queries, "
                  f"latency over {s['n_timed_queries']}.", "",
                  "| library | knob | recall@100 | recall@10 | p50 ms | p99 ms | build s | index MiB "
                  "| RSS growth MiB |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in s["libraries"]:
            for i, p in enumerate(r["points"]):
                mark = " (shipped)" if p[r["param"]] == r["shipped_value"] else ""
                first = i == 0
                lines.append(f"| {r['library']} | {r['param']}={p[r['param']]}{mark} | {p['recall_at_100']:.4f} | "
                             f"{p['recall_at_10']:.4f} | {p['p50_ms']:.3f} | {p['p99_ms']:.3f} | "
                             f"{r['build_s'] if first else ''} | {_mib(r['index_bytes']) if first else ''} | "
                             f"{_mib(r['rss_growth_bytes']) if first else ''} |")
        for lib, why in s.get("libraries_skipped", {}).items():
            lines.append(f"| {lib} | {why} | | | | | | | |")
        vd = s["verdict"]
        if vd.get("baseline"):
            b = vd["baseline"]
            lines += ["", f"Baseline: {b['library']} at its shipped point: recall@100 {b['recall_at_100']:.4f}, "
                      f"p50 {b['p50_ms']:.3f} ms.", "",
                      "| library | fastest point at ≥ baseline recall | its p50 / baseline p50 | best recall@100 | "
                      "wins on recall and time |", "| --- | --- | ---: | ---: | --- |"]
            for lib, o in vd["others"].items():
                pt = o["fastest_point_at_baseline_recall"]
                desc = "none reaches it" if pt is None else ", ".join(
                    f"{k}={v}" for k, v in pt.items() if k not in ("p50_ms", "p99_ms", "recall_at_100")) + \
                    f" (recall {pt['recall_at_100']:.4f}, p50 {pt['p50_ms']:.3f} ms)"
                lines.append(f"| {lib} | {desc} | {_f(o['p50_ratio_to_baseline'])} | "
                             f"{o['best_recall_at_100']:.4f} | {'yes' if o['wins_on_recall_and_time'] else 'no'} |")
        lines.append("")
    lines += [_overall(rl), "", "![recall vs latency](retrieval_libraries.png)", ""]
    return "\n".join(lines)


def _overall(rl: dict) -> str:
    """Which library wins on both recall and time on every measured set (nothing is adopted by the bench)."""
    sets = {n: s for n, s in rl.get("sets", {}).items() if "verdict" in s and s["verdict"].get("baseline")}
    if not sets:
        return "No set measured."
    libs = set.intersection(*(set(s["verdict"]["others"]) for s in sets.values()))
    winners = sorted(lib for lib in libs if all(s["verdict"]["others"][lib]["wins_on_recall_and_time"]
                                                for s in sets.values()))
    names = " and ".join(sets)
    if winners:
        return (f"**Wins on both recall and time on {names}: {', '.join(winners)}.** Nothing is adopted by the "
                "bench; the product keeps FAISS HNSW32,SQ8 until a maintainer decides.")
    return f"**No library wins on both recall and time on {names}**: the bundles keep FAISS HNSW32,SQ8."


def libraries_plot(rl: dict, path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = [(n, s) for n, s in rl.get("sets", {}).items() if "libraries" in s]
    if not sets:
        return None
    fig, axes = plt.subplots(1, len(sets), figsize=(5.5 * len(sets), 4), squeeze=False)
    for ax, (name, s) in zip(axes[0], sets, strict=True):
        for r in s["libraries"]:
            xs = [p["p50_ms"] for p in r["points"]]
            ys = [p["recall_at_100"] for p in r["points"]]
            ax.plot(xs, ys, marker="o", label=r["library"])
            for p, x, y in zip(r["points"], xs, ys, strict=True):
                ax.annotate(str(p[r["param"]]), (x, y), fontsize=6)
        ax.set_xscale("log")
        ax.set_xlabel("ms per query, p50, 1 thread (log)")
        ax.set_ylabel("recall@100 vs exact")
        ax.set_title(f"{name}: {s['n']:,} vectors, dim {s['dim']}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Recall vs latency (shared, loaded 2-core VM: compare side by side)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def runtimes_md(er: dict) -> str:
    meta = er.get("_meta", {})
    lines = ["# Encoder runtimes: ONNX Runtime vs OpenVINO, the shipped int8 query tower", "", LOAD_NOTE, "",
             f"- command: `{meta.get('command')}`; ran {meta.get('ran_at')} for {meta.get('seconds')} s; load "
             f"average before {meta.get('load_average_before')}, after {meta.get('load_average_after')}"]
    if "skipped" in er:
        return "\n".join(lines + ["", er["skipped"], ""])
    lines += [f"- model `{er['model']}`, {er['threads']} thread; versions {er['versions']}; OpenVINO config "
              f"{er['openvino_config']}; timed queries: {er['timed_queries']}, the runtimes alternating query by "
              f"query, {er['rounds']} rounds, every query seen once by each runtime before timing.", "",
              "| runtime | tokenisation | p50 ms | p90 ms | p99 ms | CPU p50 ms | calls |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for rt, modes in er["encode"].items():
        for mode, st in modes.items():
            lines.append(f"| {rt} | {mode.removeprefix('tokenisation_')} | {st['p50_ms']:.3f} | {st['p90_ms']:.3f} "
                         f"| {st['p99_ms']:.3f} | {st['cpu_p50_ms']:.3f} | {st['queries']} |")
    d = er["decision"]
    lines += ["", f"OpenVINO / ONNX Runtime p50: {d['openvino_over_onnxruntime_p50_included']} (tokenisation "
              f"included), {d['openvino_over_onnxruntime_p50_excluded']} (excluded); CPU p50 (included): "
              f"{d['openvino_over_onnxruntime_cpu_p50_included']}.", ""]
    if auc := er.get("auc"):
        ship = er.get("shipped_evaluate_roc_auc") or {}
        lines += [f"ROC-AUC on the German test split ({auc['rows']:,} rows, {auc['distinct_queries']:,} distinct "
                  "queries; queries through the runtime, ads through the same ONNX Runtime int8 ad tower, cosine):",
                  "", "| runtime | ROC-AUC |", "| --- | ---: |"]
        for rt, v in auc["runtimes"].items():
            lines.append(f"| {rt} | {v['roc_auc']:.5f} |")
        if ship:
            lines.append(f"| `twinrank evaluate` of the shipped model, {ship.get('precision')}, "
                         f"{ship.get('head')} head ({ship['from']}; its own batching, see below) | "
                         f"{ship['roc_auc']:.5f} |")
        qv = auc["query_vectors_openvino_vs_onnxruntime"]
        lines += ["", f"Query vectors, OpenVINO vs ONNX Runtime: mean cosine {qv['mean_cos']}, min {qv['min_cos']}, "
                  f"max abs difference {qv['max_abs_diff']}. The bench batches queries (32, first-seen order) and "
                  "ads (the vector cache's chunks) unlike `twinrank evaluate`, and dynamic int8 quantisation scales "
                  "each batch over its padded tensor: the fourth decimal of the AUC moves with batching; both "
                  "runtimes here get identical batches.", ""]
    lines += [f"**Decision: {'adopt OpenVINO' if d.get('adopt_openvino') else 'keep ONNX Runtime'}** — {d['why']}. "
              "The bench switches nothing; the service runs ONNX Runtime.", ""]
    return "\n".join(lines)


def write_addenda(out: Path, sec: dict) -> list[Path]:
    """The addendum files for the sections present."""
    written: list[Path] = []
    if rl := sec.get("retrieval_libraries"):
        write_json(out / "retrieval_libraries.json", rl)
        atomic_write(out / "retrieval_libraries.md", libraries_md(rl).encode())
        written += [out / "retrieval_libraries.json", out / "retrieval_libraries.md"]
        if png := libraries_plot(rl, out / "retrieval_libraries.png"):
            written.append(png)
    if er := sec.get("encoder_runtimes"):
        write_json(out / "encoder_runtimes.json", er)
        atomic_write(out / "encoder_runtimes.md", runtimes_md(er).encode())
        written += [out / "encoder_runtimes.json", out / "encoder_runtimes.md"]
    if tr := sec.get("traffic"):
        write_json(out / "traffic.json", tr)
        atomic_write(out / "traffic.md", traffic_md(tr).encode())
        written += [out / "traffic.json", out / "traffic.md"]
    if fl := sec.get("floor"):
        from load_tests.bench.floor import floor_md

        write_json(out / "floor.json", fl)
        atomic_write(out / "floor.md", floor_md(fl, LOAD_NOTE).encode())
        written += [out / "floor.json", out / "floor.md"]
    return written


def traffic_md(tr: dict) -> str:
    meta = tr.get("_meta", {})
    lines = ["# Realistic traffic: the test split's query stream with the query cache", "",
             f"- command: `{meta.get('command')}`; ran {meta.get('ran_at')} for {meta.get('seconds')} s; load "
             f"average before {meta.get('load_average_before')}, after {meta.get('load_average_after')}", ""]
    if "skipped" in tr:
        return "\n".join([*lines, tr["skipped"], ""])
    lines += [f"Fixed rate {tr['rate_rps']:g} req/s, {tr['duration_s']:.0f} s per run, {tr['repeats']} runs per "
              f"stream, alternating; the replayed stream is every row's query of the file ({tr['stream_rows']:,} "
              f"rows) in a seeded shuffle. {tr['note']}.", "",
              "| stream | p99 ms | p50 ms | server CPU ms/request | cache hit rate |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for name, m in tr["median"].items():
        lines.append(f"| {name} (median) | {_f(m['p99_ms'], 2)} | {_f(m['p50_ms'], 2)} | "
                     f"{_f(m['server_cpu_ms_per_request'])} | {_f(m['cache_hit_rate'])} |")
    lines += ["", f"Replay vs distinct: CPU per request ×{tr['cpu_ratio_replay_vs_distinct']}, p99 "
              f"×{tr['p99_ratio_replay_vs_distinct']}. The all-distinct stream stays the headline.", "",
              "Every run:", "", "| stream | run | p99 ms | CPU ms/request | hit rate | errors |",
              "| --- | ---: | ---: | ---: | ---: | --- |"]
    for name, runs in tr["runs"].items():
        for i, r in enumerate(runs, 1):
            lines.append(f"| {name} | {i} | {_f(r['p99_ms'], 2)} | {_f(r['server_cpu_ms_per_request'])} | "
                         f"{_f(r['cache_hit_rate'])} | {r['errors'] or 'none'} |")
    return "\n".join(lines) + "\n"
