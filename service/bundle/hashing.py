"""sha256 of a bundle's files, either here (nothing is being served yet) or in a helper process at the lowest
CPU priority (a swap beside a serving bundle: the hashing must not take the serving path's cores)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from service.bundle.errors import BundleError
from service.bundle.layout import sha256_file

Hasher = Callable[[list[Path]], dict[Path, str]]

_WORKER = Path(__file__).with_name("hash_worker.py")
# Below this many bytes a helper process (≈ 20 ms of interpreter start) costs more than the hashing itself.
IN_PROCESS_BELOW_BYTES = 8 << 20


def hash_here(paths: list[Path]) -> dict[Path, str]:
    return {p: sha256_file(p) for p in paths}


def hash_low_priority(paths: list[Path], in_process_below: int = IN_PROCESS_BELOW_BYTES) -> dict[Path, str]:
    """The digests of `paths`, computed by `hash_worker.py` at nice 19 unless they are small; a helper that fails
    raises `BundleError` naming the first file."""
    if not paths:
        return {}
    try:
        size = sum(p.stat().st_size for p in paths)
    except OSError as exc:  # gone since the caller looked
        raise BundleError(f"{exc.filename}: missing (listed in the manifest)", exc.filename, "missing_file") from exc
    if size < in_process_below:
        return hash_here(paths)
    # -I -S: the standard library only, no site packages, no PYTHON* variables: a fast, lean start.
    proc = subprocess.run([sys.executable, "-I", "-S", str(_WORKER), *map(str, paths)], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BundleError(f"{paths[0]}: checksum helper failed ({tail[:200]})", paths[0], reason="unreadable")
    return {Path(k): v for k, v in json.loads(proc.stdout).items()}
