"""The `--engine local|ray` choice the offline commands share (`index build|update`, `distill`)."""

from __future__ import annotations


def check_engine(engine: str, ray_address: str | None) -> None:
    """Refuse an unknown engine, a Ray address without `--engine ray`, and `--engine ray` without Ray installed."""
    if engine not in ("local", "ray"):
        raise ValueError(f"--engine must be local or ray (got {engine!r})")
    if engine == "local" and ray_address:
        raise ValueError("--ray-address needs --engine ray")
    if engine == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ValueError("--engine ray needs Ray: pip install 'twinrank[scale]'") from None
