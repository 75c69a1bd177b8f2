"""The campaign's report files: results.json (everything) and report.md (a table, then each case in detail)."""

from __future__ import annotations

from pathlib import Path

from common.files import atomic_write, write_json

KEY_FIGURES = 4  # figures shown per case in the summary table; all of them are in the details and the JSON


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | dict):
        text = str(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def key_figures(figures: dict) -> str:
    scalars = [(k, v) for k, v in figures.items() if not isinstance(v, list | dict)]
    return "; ".join(f"{k} {_fmt(v)}" for k, v in scalars[:KEY_FIGURES])


def markdown(doc: dict) -> str:
    mode = "quick (CI: tiny bundles, seconds per case)" if doc["quick"] else "full"
    lines = ["# Reliability campaign", "",
             f"- run: {doc['started_at']}, {mode}, seed {doc['seed']}",
             f"- machine: {doc['machine'].get('summary', '')}",
             f"- command: `{doc.get('command') or 'python -m load_tests.chaos'}`",
             f"- {doc['passed']} passed, {doc['failed']} failed, {len(doc['skipped'])} not present", "",
             "| case | passed | summary | key figures | s |", "| --- | --- | --- | --- | ---: |"]
    for c in doc["cases"]:
        lines.append(f"| {c['name']} | {'yes' if c['passed'] else '**no**'} | {_cell(c['summary'])} | "
                     f"{_cell(key_figures(c['figures']))} | {c['seconds']:g} |")
    for s in doc["skipped"]:
        lines.append(f"| {s['name']} | skipped | {_cell(s['reason'])} | | |")
    for c in doc["cases"]:
        lines += ["", f"## {c['name']}: {'passed' if c['passed'] else 'FAILED'}", "", c["summary"], ""]
        if c.get("run_at") and c["run_at"] != doc["started_at"]:
            lines += [f"(result of an earlier run, {c['run_at']})", ""]
        if c["figures"]:
            lines += ["| figure | value |", "| --- | --- |"]
            lines += [f"| {k} | {_cell(_fmt(v))} |" for k, v in c["figures"].items()]
            lines.append("")
        lines += c["details"]
        lines += [f"![{c['name']}]({p})" for p in c["plots"]]
    return "\n".join(lines) + "\n"


def write_report(out_dir: Path, doc: dict) -> list[Path]:
    paths = [out_dir / "results.json", out_dir / "report.md"]
    write_json(paths[0], doc)
    atomic_write(paths[1], markdown(doc).encode())
    return paths
