"""`reports/perf/`: perf.json (the figures), perf.md (tables + where the time goes) and PNG plots."""

from __future__ import annotations

from pathlib import Path

from common.files import atomic_write, write_json
from load_tests.bench.headline import median_run
from load_tests.bench.retrieval import ann_label
from load_tests.tools.loadtest_report import plot, run_rows, stage_rows


def _fmt(x, nd: int = 2) -> str:
    return "n/a" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))


def where_time_goes(e2e: dict, cores: int = 2) -> list[str]:
    """A paragraph decomposing the fixed-rate run's latency: server stages, server CPU, the rest."""
    if not e2e or "fixed_rate" not in e2e:
        return []
    run = median_run(e2e)
    lat = run["latency_ms"]
    st = run.get("server_stages_ms", {})
    lines = ["", "### Where the time goes (the fixed-rate run with the median p99)", ""]
    if st:
        means = {k: v["mean_ms"] for k, v in st.items()}
        total = means.get("total")
        parts = ", ".join(f"{k} {v:.2f}" for k, v in means.items() if k != "total")
        lines.append(f"- Server stages, mean ms per request (from `timings_ms` in the responses): {parts}; "
                     f"total in the ranker {_fmt(total)} ms.")
        if total is not None:
            lines.append(f"- Client-observed mean {lat['mean_ms']:.2f} ms − ranker total {total:.2f} ms = "
                         f"{lat['mean_ms'] - total:.2f} ms in HTTP parsing/serialisation, the event loop, queueing "
                         "for a worker, loopback and the generator's send lag "
                         f"(p99 {run['send_lag_ms']['p99_ms']:.2f} ms).")
        if "total" in st:
            lines.append(f"- Ranker total p99 {st['total']['p99_ms']:.2f} ms vs client p99 {lat['p99_ms']:.2f} ms.")
    cpu = run.get("server_cpu_ms_per_request")
    if cpu is not None:
        lines.append(f"- Server CPU {cpu:.2f} ms per request → {cpu * run['offered_rps'] / 1000:.2f} of the machine's "
                     f"cores at {run['offered_rps']:g} req/s (generator: {run['generator_core_share']:.2f} core).")
        lines += _cpu_split("thread", run.get("server_cpu_ms_per_request_by_thread"),
                            "event loop: HTTP, parsing, JSON, and for query-only requests the candidates and score "
                            "stages; query batcher: the query encode stage; rank workers: requests with ads")
        lines += _cpu_split("/rank stage", run.get("server_cpu_ms_per_request_by_stage"),
                            "query encode: tokenise + query tower, a batch counted once; candidates: ANN search and "
                            "the stored-vector lookup; score: head, calibration, auction, result rows")
        lines.append(f"- At that cost {cores} idle cores saturate near {cores * 1000 / cpu:.0f} req/s (an upper bound: "
                     "queueing makes p99 grow well before it).")
    return lines


def _cpu_split(by: str, ms_per_request: dict[str, float] | None, legend: str) -> list[str]:
    """One line of server CPU ms per request split by `by` (thread role or stage), or none without the split."""
    if not ms_per_request:
        return []
    parts = ", ".join(f"{name.replace('_', ' ')} {ms:.2f}" for name, ms in ms_per_request.items())
    return [f"- Server CPU ms per request by {by}: {parts} ({legend})."]


def markdown(doc: dict) -> str:
    sec = doc.get("sections", {})
    m = doc.get("machine", {})
    t = doc.get("targets", {})
    lines = ["# twinrank performance", "",
             "- commands (each part below names the one that produced it): "
             + "; ".join(f"`{c}`" for c in doc.get("commands") or [doc.get("command")])
             + (" (quick smoke sizes)" if doc.get("quick") else ""),
             f"- machine: {m.get('summary')}; {m.get('os')}; Python {m.get('python')}; "
             f"versions {m.get('versions')}",
             "- each part records the machine's load average when it started (below): a shared machine's other "
             "work shows there. Ratios are measured side by side in one process.",
             f"- finished: {doc.get('finished_at')}", "",
             "## Headline", "",
             "| figure | value | target | met |", "| --- | ---: | --- | --- |",
             "| student vs teacher speed-up, 100 ads (p50) | "
             f"{_fmt(doc.get('student_vs_teacher_speedup_100_ads'), 1)}× "
             f"| ≥ 100× | {t.get('student_vs_teacher_speedup_100_ads', {}).get('met')} |",
             f"| /rank p99 at 200 req/s, 1M ads, query only, top 10 (median of the fixed-rate runs: "
             f"{', '.join(_fmt(x) for x in doc.get('rank_p99_ms_at_200rps_1M_ads_each_run') or [])} ms) | "
             f"{_fmt(doc.get('rank_p99_ms_at_200rps_1M_ads'))} ms | ≤ 10 ms | "
             f"{t.get('rank_p99_ms_at_200rps_1M_ads', {}).get('met')} |",
             f"| highest offered rate with p99 ≤ 20 ms | {_fmt(doc.get('max_rps_at_p99_20ms'))} req/s | report | |", ""]
    if ts := sec.get("teacher_vs_student"):
        lines += ["## 1. Teacher vs student on 100 ads (ONNX Runtime, "
                  f"{ts['threads']} thread{'s' if ts['threads'] > 1 else ''})", "",
                  "| model | wall p50 ms | wall p90 ms | wall min ms | CPU p50 ms |",
                  "| --- | ---: | ---: | ---: | ---: |",
                  f"| teacher: {ts['teacher']['model']} (mean {ts['teacher']['mean_pair_tokens']} tokens/pair) | "
                  f"{ts['teacher']['p50_ms']:.1f} | {ts['teacher']['p90_ms']:.1f} | {ts['teacher']['min_ms']:.1f} | "
                  f"{ts['teacher'].get('cpu_p50_ms', float('nan')):.1f} |",
                  f"| student: {ts['student']['model']} | {ts['student']['p50_ms']:.2f} | "
                  f"{ts['student']['p90_ms']:.2f} | {ts['student']['min_ms']:.2f} | "
                  f"{ts['student'].get('cpu_p50_ms', float('nan')):.2f} |", "",
                  f"Speed-up: **{ts.get('speedup_cpu_p50')}× in CPU time** (p50 of the same calls), "
                  f"{ts['speedup_p50']}× in wall time (p50), {ts.get('speedup_min')}× best case (min vs min). "
                  f"Ad texts: {ts.get('ad_texts')}. Both include tokenisation; the teacher runs all 100 pairs in "
                  "one batch.", ""]
    if qe := sec.get("query_encoding"):
        lines += [f"## 2. Query encoding ({qe['query_layers']}-layer query tower, {qe['threads']} thread(s))", "",
                  "| runtime | 1 query p50 ms | 1 query p90 ms | 1 query CPU p50 ms | 32 queries p50 ms | "
                  "32 queries CPU p50 ms | queries/s at batch 32 |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for k in ("pytorch", "onnx_fp32", "onnx_int8"):
            if k in qe:
                v = qe[k]
                lines.append(f"| {k} | {v['batch1']['p50_ms']:.2f} | {v['batch1']['p90_ms']:.2f} | "
                             f"{v['batch1'].get('cpu_p50_ms', float('nan')):.2f} | {v['batch32']['p50_ms']:.1f} | "
                             f"{v['batch32'].get('cpu_p50_ms', float('nan')):.1f} | {v['batch32_queries_per_s']:.0f} |")
        lines += ["", f"Speed-up vs PyTorch at batch 1, wall: {qe['speedup_vs_pytorch_batch1']}; CPU time: "
                  f"{qe.get('cpu_speedup_vs_pytorch_batch1')} (tokenisation included).", ""]
    if rt := sec.get("retrieval"):
        lines += [f"## 3. Retrieval over {rt['n']:,} vectors (dim {rt['dim']}, {rt['threads']} thread(s), batch 1)", "",
                  f"Vectors: {rt['vectors']}. ANN build: {rt['ann_build_s']} s.", "",
                  "| index | p50 ms | p99 ms | CPU p50 ms | recall@10 | recall@100 | speed-up vs exact (wall, CPU) |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
                  f"| exact (Flat) | {rt['exact']['p50_ms']:.2f} | {rt['exact']['p99_ms']:.2f} | "
                  f"{rt['exact'].get('cpu_p50_ms', float('nan')):.2f} | 1 | 1 | 1 |"]
        for a in rt["ann"]:
            lines.append(f"| {ann_label(a)} | {a['p50_ms']:.3f} | {a['p99_ms']:.3f} | "
                         f"{a.get('cpu_p50_ms', float('nan')):.3f} | {a['recall_at_10']:.3f} | "
                         f"{a['recall_at_100']:.3f} | {a['speedup_vs_exact_p50']}×, "
                         f"{a.get('cpu_speedup_vs_exact_p50')}× |")
        lines.append("")
    for name in sorted(k for k in sec if k.startswith("end_to_end")):
        e2e = sec[name]
        b = e2e["bundle"]
        title = "" if name == "end_to_end" else f" — variant `{name}`"
        lines += [f"## 4. End to end: POST /rank over HTTP, query only, top 10{title}", "",
                  f"Bundle: {b['n_ads']:,} ads, index {b['factory']} {b['search_params']}, dim {b['dim']} "
                  f"(built in {e2e.get('bundle_build_s')} s; synthetic catalog and vectors, real exported student "
                  f"query tower: {e2e.get('student', 'untrained student of the shipped shape')}; candidates scored "
                  f"by the `{b.get('scoring_head', 'res')}` head). Server settings: {e2e['server_env']} "
                  "(the query cache is off so every request "
                  f"encodes). Queries: {e2e.get('queries')}. Open loop, constant arrivals, latency from the "
                  "scheduled send time.", "", "Fixed rate:", ""]
        lines += run_rows(e2e["fixed_rate"]["runs"])
        lines += ["", "Server stages at the fixed rate (the run with the median p99):", ""]
        lines += stage_rows(median_run(e2e))
        lines += where_time_goes(e2e, m.get("usable_cores") or 2)
        sw = e2e.get("sweep")
        if sw:
            lines += ["", f"Sweep (SLO p99 ≤ {sw['slo']['p99_ms']:g} ms): highest passing rate "
                      f"**{sw['max_rps_meeting_slo']} req/s**", ""] + run_rows(sw["runs"])
            lines += ["", "Server CPU per request during the sweep: " + ", ".join(
                f"{r['offered_rps']:g}/s: {r.get('server_cpu_ms_per_request')} ms" for r in sw["runs"])]
        lines.append("")
    if g := sec.get("generator"):
        lines += ["## 5. Load generator overhead (against a trivial asyncio server in another process)", "",
                  "| offered | achieved | p50 ms | p99 ms | send lag p99 ms | generator CPU µs/request | core share |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in g["runs"]:
            lines.append(f"| {r['offered_rps']:g} | {r['achieved_rps']:g} | {r['latency_p50_ms']:.2f} | "
                         f"{r['latency_p99_ms']:.2f} | {r['send_lag_p99_ms']:.2f} | "
                         f"{r['generator_cpu_us_per_request']} | {r['generator_core_share']} |")
        lines += ["", f"Highest rate with send-lag p99 ≤ 5 ms: {g['max_rate_send_lag_p99_under_5ms']} req/s.", ""]
    for key, title in (("retrieval_libraries", "Retrieval libraries side by side"),
                       ("encoder_runtimes", "Encoder runtimes: ONNX Runtime vs OpenVINO"),
                       ("peers", "Peers: twinrank vs the stacks a user would deploy instead")):
        if key in sec:
            lines += [f"## {title}", "", f"See [{key}.md]({key}.md) (figures in `{key}.json`; summary under "
                      f"`{key}` above).", ""]
    lines += ["## Load around each part", "", "| part | started | seconds | load before | load after | command |",
              "| --- | --- | ---: | --- | --- | --- |"]
    for name, s in sec.items():
        meta = s.get("_meta", {})
        lines.append(f"| {name} | {meta.get('ran_at')} | {meta.get('seconds')} | {meta.get('load_average_before')} "
                     f"| {meta.get('load_average_after')} | `{meta.get('command', '')}` |")
    return "\n".join(lines) + "\n"


def plots(doc: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sec = doc.get("sections", {})
    written = []
    for key in sorted(k for k in sec if k.startswith("end_to_end")):
        e2e = sec[key]
        sw = e2e.get("sweep") or {"runs": [], "slo": {"p99_ms": 20.0}}
        runs = sorted(sw["runs"] + e2e.get("fixed_rate", {}).get("runs", []), key=lambda r: r["offered_rps"])
        if runs:
            stem = "rank_1M" + key.removeprefix("end_to_end")
            for name in plot({"runs": runs, "slo": sw["slo"]}, out, stem=stem):
                written.append(out / name)
    if ts := sec.get("teacher_vs_student"):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        key = "cpu_p50_ms" if "cpu_p50_ms" in ts["teacher"] else "p50_ms"
        ax.bar(["teacher\ncross-encoder", "student\nTwinBERT"], [ts["teacher"][key], ts["student"][key]],
               color=["#b55", "#5a5"])
        ax.set_yscale("log")
        ax.set_ylabel(f"ms to score 100 ads ({key.removesuffix('_ms').replace('_', ' ')}, log)")
        ax.set_title(f"Student {ts.get('speedup_cpu_p50', ts['speedup_p50'])}× less CPU than the teacher")
        fig.tight_layout()
        fig.savefig(out / "teacher_vs_student.png", dpi=110)
        plt.close(fig)
        written.append(out / "teacher_vs_student.png")
    if rt := sec.get("retrieval"):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for name in dict.fromkeys(a["factory"] for a in rt["ann"]):
            rows = [a for a in rt["ann"] if a["factory"] == name]
            ax.plot([a["p50_ms"] for a in rows], [a["recall_at_10"] for a in rows], marker="o",
                    label=name.split(" ")[0])
            for a in rows:
                ax.annotate(ann_label(a).removeprefix(name).strip(), (a["p50_ms"], a["recall_at_10"]), fontsize=7)
        ax.scatter([rt["exact"]["p50_ms"]], [1.0], color="k", label="exact")
        ax.set_xscale("log")
        ax.set_xlabel("ms per query (p50, log)")
        ax.set_ylabel("recall@10")
        ax.set_title(f"Retrieval over {rt['n']:,} vectors")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "retrieval.png", dpi=110)
        plt.close(fig)
        written.append(out / "retrieval.png")
    return written


def write_perf(out: Path, doc: dict) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "perf.json", doc)
    atomic_write(out / "perf.md", markdown(doc).encode())
    return [out / "perf.json", out / "perf.md", *plots(doc, out)]
