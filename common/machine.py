"""A description of the machine a measurement ran on (cores, CPU model, load), for every report."""

from __future__ import annotations

import os
import platform
from importlib import metadata


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_summary() -> str:
    """`<CPU model>, <n> cores`: the one-line machine note of the distillation report."""
    return f"{cpu_model()}, {os.cpu_count()} cores"


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def describe() -> dict:
    """Cores (logical and usable), CPU model, memory, load average, OS, Python and library versions."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem_gib = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            mem_gib = round(int(fh.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    load = load_average()
    d = {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": mem_gib,
        "load_average_1_5_15": load,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in ("onnxruntime", "faiss-cpu", "torch", "tokenizers", "uvicorn", "fastapi")},
    }
    d["summary"] = f"{d['cpu_model']}, {usable} usable cores, {mem_gib} GiB, load average {load}"
    return d
