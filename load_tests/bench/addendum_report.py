"""The perf addenda `twinrank bench` writes beside perf.json for the libraries, runtimes and peers parts:
retrieval_libraries.json/.md/.png, encoder_runtimes.json/.md and peers.json/.md/.png, plus their summary keys in
perf.json."""

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
    if pe := sec.get("peers"):
        out["peers"] = peers_summary(pe)
    return out


def peers_summary(pe: dict) -> dict:
    """Per stack: highest rate at the SLO, p99 and CPU per request at the common rate, test ROC-AUC; ratios."""
    c = pe["comparison"]
    aucs = pe["quality"].get("stacks", {})
    return {"common_rate_rps": c["common_rate_rps"], "slo_p99_ms": pe["slo_p99_ms"],
            "stacks": {k: v | {"test_roc_auc": aucs.get(k, {}).get("roc_auc")} for k, v in c["stacks"].items()},
            "ratios_vs_peer": c.get("ratios_vs_peer", {})}


def meta_line(meta: dict, label: str = "command") -> str:
    """The addendum's line on the run that wrote it: command, when, how long, the load average around it."""
    return (f"- {label}: `{meta.get('command')}`; ran {meta.get('ran_at')} for {meta.get('seconds')} s; load "
            f"average before {meta.get('load_average_before')}, after {meta.get('load_average_after')}")


def _f(x, nd: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{nd}f}"


def _mib(b: int | None) -> str:
    return "n/a" if b is None else f"{b / 2**20:.1f}"


def libraries_md(rl: dict) -> str:
    meta = rl.get("_meta", {})
    lines = ["# Retrieval libraries side by side", "", LOAD_NOTE, "",
             meta_line(meta, "last command") + " (each set below says when it ran; `--library-sets` reruns one "
             "and keeps the other)",
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
             meta_line(meta)]
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


def _rate(x) -> str:
    return "none (fails at every rate)" if x is None else f"{x:g} req/s"


def peers_md(pe: dict) -> str:
    meta, c, q = pe.get("_meta", {}), pe["comparison"], pe["quality"]
    rate = c["common_rate_rps"]
    lines = ["# twinrank vs the stacks a user would deploy instead", "", LOAD_NOTE.replace(
                 "every comparison was measured side by side, interleaved in one process, so read the ratios",
                 "the stacks ran one after another in one command, so read the ratios"), "",
             meta_line(meta),
             f"- catalog: {pe['catalog']['n_ads']:,} ads of the {pe['catalog']['source']}, the same JSONL for every "
             f"stack; twinrank's index `{pe['catalog']['twinrank_index']}`, the peer's {pe['catalog']['peer_index']}; "
             f"student `{pe['student']}`; the peer's model `{pe['peer_model']}`",
             f"- queries: {pe['queries']}; one open-loop generator (`run_loadtest`), query-only /rank, top_k 10, "
             f"query cache off; sweep {pe['sweep_rates']} req/s, {pe['sweep_duration_s']:g} s each, stopping at the "
             f"first rate failing p99 ≤ {pe['slo_p99_ms']:g} ms (or errors, or falling behind)",
             f"- threads: twinrank {pe['threads']['twinrank']}; peer {pe['threads']['peer']}; versions "
             f"{pe['versions']}",
             "- server CPU per request: the server process's user + system CPU over a run divided by the requests it "
             "served (warm-up included), as the e2e part counts it; p99 is over the requests that succeeded, so "
             "read it beside the failed share (timeouts, 429s)",
             f"- common rate: **{rate:g} req/s** ({c['common_rate_rule']})", "",
             f"| stack | highest rate with p99 ≤ {pe['slo_p99_ms']:g} ms | p99 ms at {rate:g} req/s "
             f"| failed share at {rate:g} req/s | server CPU ms/request at {rate:g} req/s | test ROC-AUC |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    aucs = q.get("stacks", {})
    for name, row in c["stacks"].items():
        auc = aucs.get(name, {}).get("roc_auc")
        lines.append(f"| {name}: {pe['stacks'][name]['stack']} | {_rate(row['max_rps_meeting_slo'])} | "
                     f"{_f(row['p99_ms_at_common_rate'], 2)} | {_f(row.get('error_rate_at_common_rate'), 3)} | "
                     f"{_f(row['server_cpu_ms_per_request_at_common_rate'])} | {_f(auc, 4)} |")
    if ratios := c.get("ratios_vs_peer"):
        lines += ["", "Ratios against the peer:", ""]
        for name, r in ratios.items():
            cpu = r["peer_cpu_over_this_cpu"]
            rr = r["this_rate_at_slo_over_peer_rate"]
            rate_txt = ("the peer meets the SLO at no swept rate" if r["peer_meets_slo_at_no_rate"] else
                        f"rate at the SLO ×{rr:g}" if rr else "rate at the SLO: n/a")
            lines.append(f"- {name}: {'n/a' if cpu is None else f'{cpu:g}×'} less server CPU per request; {rate_txt}")
    lines += ["", "## Sweeps", "", "| stack | offered req/s | achieved req/s | p50 ms | p99 ms | errors "
              "| CPU ms/request | SLO |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for name, s in pe["stacks"].items():
        for r in s["sweep"]["runs"]:
            lines.append(f"| {name} | {r['offered_rps']:g} | {r['achieved_rps']:.1f} | "
                         f"{r['latency_ms']['p50_ms']:.2f} | {r['latency_ms']['p99_ms']:.2f} | "
                         f"{sum(r['errors'].values()) if r['errors'] else 0} | {r['server_cpu_ms_per_request']:.3f} "
                         f"| {'pass' if r['slo_pass'] else r['slo_reason']} |")
    lines += ["", "## Ranking quality", ""]
    if "skipped" in q:
        lines.append(q["skipped"])
    else:
        peer, tw = q["stacks"]["peer_st_faiss_fastapi"], q["stacks"]["twinrank_shipped"]
        lines += [f"ROC-AUC on the {q['split']}, {tw['rows']:,} rows" + (f" (first {q['limit']})" if q["limit"] else "")
                  + f": the peer {peer['roc_auc']:.4f} ({peer['score']}); twinrank {tw['roc_auc']:.4f} (the student's "
                  f"{tw.get('head')} head, {tw.get('precision')} towers, as served; {tw['from']}; both twinrank "
                  f"stacks serve the same student). twinrank − peer: {q['twinrank_minus_peer']:+.4f}."]
    lines += ["", "![p99 vs offered rate](peers.png)", ""]
    return "\n".join(lines)


def peers_plot(pe: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for name, s in pe["stacks"].items():
        runs = s["sweep"]["runs"]
        xs = [r["offered_rps"] for r in runs]
        a1.plot(xs, [r["latency_ms"]["p99_ms"] for r in runs], marker="o", label=name)
        a2.plot(xs, [r["server_cpu_ms_per_request"] for r in runs], marker="o", label=name)
    a1.axhline(pe["slo_p99_ms"], color="grey", ls="--", lw=1)
    for ax, label in ((a1, "/rank p99 ms (log)"), (a2, "server CPU ms per request (log)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("offered req/s (log)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Peers on {pe['catalog']['n_ads']:,} ads (shared 2-core VM: read the ratios)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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
    if pe := sec.get("peers"):
        write_json(out / "peers.json", pe)
        atomic_write(out / "peers.md", peers_md(pe).encode())
        written += [out / "peers.json", out / "peers.md", peers_plot(pe, out / "peers.png")]
    if fl := sec.get("floor"):
        from load_tests.bench.floor import floor_md

        write_json(out / "floor.json", fl)
        atomic_write(out / "floor.md", floor_md(fl, [LOAD_NOTE, "", meta_line(fl.get("_meta", {}))]).encode())
        written += [out / "floor.json", out / "floor.md"]
    return written


def traffic_md(tr: dict) -> str:
    meta = tr.get("_meta", {})
    lines = ["# Realistic traffic: the test split's query stream with the query cache", "",
             meta_line(meta), ""]
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
