"""Docker cannot run here: keep the Dockerfile honest by checking every file and command it names."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_copied_sources_exist() -> None:
    copies = [rest for op, rest in _instructions() if op == "COPY" and "--from" not in rest]
    assert copies
    for rest in copies:
        parts = shlex.split(rest)
        for src in [p for p in parts[:-1] if not p.startswith("--")]:
            assert (REPO / src).exists(), f"Dockerfile copies {src}, which is not in the repo"


def test_installed_extras_and_entry_points_exist() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    extras = set(pyproject["project"]["optional-dependencies"])
    scripts = set(pyproject["project"]["scripts"])
    text = DOCKERFILE.read_text()
    for extra in re.findall(r"\.\[([a-z,]+)\]", text):
        for name in extra.split(","):
            assert name in extras, f"Dockerfile installs extra [{name}], which pyproject.toml lacks"
    for cmd in re.findall(r'CMD \["([^"]+)"', text) + re.findall(r'ENTRYPOINT \["([^"]+)"', text):
        assert cmd in scripts | {"python", "twinrank"}, cmd
    assert "torch" not in re.sub(r"#.*", "", text), "the serving image must not install torch"


def test_commands_it_runs_exist() -> None:
    text = "\n".join(rest for op, rest in _instructions() if op in ("RUN", "CMD", "ENTRYPOINT", "HEALTHCHECK"))
    # Every `twinrank <command>` and `python -m <module>` it names must exist in the repo.
    from typer.main import get_command

    from cli.app import app

    commands = set(get_command(app).commands)
    for name in re.findall(r'"twinrank",\s*"([a-z-]+)"', text) + re.findall(r"twinrank ([a-z-]+)", text):
        assert name in commands, f"Dockerfile runs `twinrank {name}`, which the CLI lacks"
    for module in re.findall(r"python3? -m ([\w.]+)", text):
        top = module.split(".")[0]
        if (REPO / top).is_dir():
            assert (REPO / (module.replace(".", "/") + ".py")).exists(), module
        else:  # a tool: it must be installed by the Dockerfile itself (or be part of Python)
            assert top in ("venv", "pip") or re.search(rf"pip install [^\n]*\b{top}\b", text), module


def test_healthcheck_uses_healthz_and_gpu_target_exists() -> None:
    ops = _instructions()
    health = [rest for op, rest in ops if op == "HEALTHCHECK"]
    assert health and all("/healthz" in h for h in health)
    stages = [rest.split()[-1] for op, rest in ops if op == "FROM" and " AS " in rest.upper()]
    assert {"serve-cpu", "serve-gpu"} <= set(stages)
    assert "onnxruntime-gpu" in DOCKERFILE.read_text() and "faiss-gpu" in DOCKERFILE.read_text()


def test_dockerignore_keeps_bundles_and_venv_out() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv", "bundles", "runs"} <= {p.strip("/") for p in ignored}
