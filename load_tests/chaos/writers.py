"""What the writer fault cases share: a bundle root of the shipped student over a sample catalog, the writer
commands (`twinrank index build|update`, `bundle rollback`) as child processes of this checkout, and a look at
a root's state (CURRENT, whether its manifest verifies, leftover scratch directories)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHIPPED_MODEL = REPO / "shipped" / "twinbert-de"
WORDS = ("laufschuhe", "winterjacke", "gartenmoebel", "fahrrad", "kinderwagen", "bohrmaschine", "kaffeemaschine",
         "rucksack", "sonnenbrille", "zelt", "matratze", "staubsauger")


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A child `python -m cli` of this checkout (not an installed copy), single-threaded (two cores, shared)."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": str(REPO) + (os.pathsep + path if path else ""), "OMP_NUM_THREADS": "1",
            "TOKENIZERS_PARALLELISM": "false", **(extra or {})}


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli", *args]


@dataclass
class Ran:
    rc: int
    out: str
    err: str
    seconds: float

    @property
    def last_line(self) -> str:
        lines = ((self.out if self.rc == 0 else self.err) or self.err or self.out).strip().splitlines()
        return lines[-1] if lines else ""

    @property
    def one_line_error(self) -> bool:
        """A failure told in one `error: …` line, without a traceback."""
        return self.rc != 0 and self.last_line.startswith("error: ") and "Traceback" not in self.err


def start_cli(*args: str, env: dict[str, str] | None = None, log: Path | None = None) -> subprocess.Popen:
    """`twinrank ARGS` in the background; stdout and stderr to `log` (or pipes when None)."""
    sink = open(log, "w") if log is not None else subprocess.PIPE  # noqa: SIM115  (closed with the process)
    return subprocess.Popen(cli_command(*args), cwd=REPO, env=child_env(env), stdout=sink,
                            stderr=subprocess.STDOUT if log is not None else subprocess.PIPE, text=True)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> Ran:
    t0 = time.monotonic()
    p = subprocess.run(cli_command(*args), cwd=REPO, env=child_env(env), capture_output=True, text=True,
                       timeout=timeout)
    return Ran(p.returncode, p.stdout, p.stderr, time.monotonic() - t0)


def build_args(catalog: Path, root: Path, *extra: str, model: Path = SHIPPED_MODEL) -> list[str]:
    return ["index", "build", "--model", str(model), "--catalog", str(catalog), "--bundles", str(root),
            "--threads", "1", "--keep", "50", *extra]


def update_args(root: Path, upsert: Path | None = None, delete: Path | None = None) -> list[str]:
    args = ["index", "update", "--bundles", str(root), "--threads", "1", "--keep", "50"]
    if upsert is not None:
        args += ["--upsert", str(upsert)]
    if delete is not None:
        args += ["--delete", str(delete)]
    return args


def sample_catalog(path: Path, n: int, extra: list[dict] | None = None) -> Path:
    """The project's sample ads (`offline.data.sample_catalog`), plus `extra` rows, as JSONL."""
    from offline.data.sample_catalog import sample_ads

    rows = [*sample_ads(n), *(extra or [])]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def new_ad(ad_id: str, i: int) -> dict:
    w = WORDS[i % len(WORDS)]
    return {"ad_id": ad_id, "title": f"{w.title()} neu {i}", "description": f"{w} jetzt guenstig kaufen",
            "bid": round(0.2 + 0.1 * (i % 10), 2), "p_click": 0.03}


def write_upserts(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def published_root(workdir: Path, n_ads: int) -> tuple[Path, Path]:
    """(bundle root with one version, its catalog) under `workdir`."""
    catalog = sample_catalog(workdir / "catalog.jsonl", n_ads)
    root = workdir / "bundles"
    r = run_cli(*build_args(catalog, root))
    if r.rc != 0:
        raise RuntimeError(f"the first build failed ({r.rc}): {r.last_line}")
    return root, catalog


@dataclass
class RootState:
    current: str | None
    valid: bool  # CURRENT names a version whose files match its manifest's checksums
    problem: str
    versions: list[str]
    scratch: list[str]  # `.tmp-*` directories and `CURRENT.tmp-*` files
    manifest: dict | None = None

    @property
    def parent(self) -> str | None:
        return self.manifest.get("parent_version") if self.manifest else None


def root_state(root: Path) -> RootState:
    from service.bundle import BundleError, current_version_dir, read_current, verify_files, version_dirs

    scratch = sorted(p.name for p in [*root.glob(".tmp-*"), *root.glob("CURRENT.tmp-*")])
    versions = [p.name for p in version_dirs(root)]
    try:
        current = read_current(root)
        m = verify_files(current_version_dir(root))
        return RootState(current, True, "", versions, scratch, m.model_dump(mode="json"))
    except BundleError as e:
        return RootState(None, False, str(e), versions, scratch)


def ad_ids(version_dir: Path) -> set[str]:
    import pyarrow.parquet as pq

    return set(pq.read_table(version_dir / "ads.parquet", columns=["ad_id"]).column("ad_id").to_pylist())


def parent_chain(root: Path, version: str, stop: str | None) -> list[str]:
    """`version` and its parents (from their manifests) back to, not including, `stop`."""
    from service.bundle import load_manifest

    chain, v = [], version
    while v is not None and v != stop and (root / v).is_dir():
        chain.append(v)
        v = load_manifest(root / v).parent_version
    return chain


def save_plot(fig, out_dir: Path, name: str) -> str:
    out_dir.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return name


def main(argv: list[str] | None = None) -> int:
    """`python -m load_tests.chaos.writers state ROOT`: the root's state as JSON (for a check run where the
    root is visible only to a child, e.g. inside a private mount namespace)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "state":
        sys.stderr.write("usage: python -m load_tests.chaos.writers state ROOT\n")
        return 2
    from dataclasses import asdict

    sys.stdout.write(json.dumps(asdict(root_state(Path(args[1])))) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
