"""Joining or starting the Ray cluster that `--engine ray` commands run on (`index build|update`, `distill`),
and the CPU check their actor pools need. Ray is imported inside the functions: it is the `scale` extra's, not
the base install's."""

from __future__ import annotations

import logging
import os

from offline.errors import ClusterError


def start_ray(address: str | None, num_cpus: int | None = None) -> None:
    """Connect to the cluster at `address`, or start a local Ray on this machine (reused when already up).

    `num_cpus` is Ray's logical count (default: this machine's cores); a local run wanting more actors than
    cores minus one may pass more."""
    import ray

    # Ray Data logs a failed task's stack trace itself; the driver re-raises expected errors as one line and
    # lets anything else propagate with its traceback, so that log would only repeat it.
    logging.getLogger("ray.data.exceptions").setLevel(logging.CRITICAL)
    if ray.is_initialized():
        return
    env = {"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}} if os.environ.get("PYTHONPATH") else None
    if address:
        ray.init(address=address, runtime_env=env, log_to_driver=False)
    else:
        # Ray starts its workers at nice 15; on a shared machine a local build would then yield to everything
        # else and run several times slower than the single-process build it replaces (reports/scale).
        os.environ.setdefault("RAY_worker_niceness", "0")
        ray.init(num_cpus=num_cpus, include_dashboard=False, runtime_env=env, log_to_driver=False)


def check_cpus(actors: int, threads_per_actor: int, spare: int, what: str) -> None:
    """Each actor reserves `threads_per_actor` CPUs for as long as it lives; `spare` more must stay free for the
    job's other tasks (reading, splitting), or Ray Data waits for a CPU that never frees."""
    import ray

    have = ray.cluster_resources().get("CPU", 0)
    if actors * threads_per_actor + spare > have:
        raise ClusterError(f"{actors} actor(s) × {threads_per_actor} thread(s) leave no CPU for {what} on this Ray "
                         f"cluster ({have:g} CPUs): lower --actors or --threads-per-actor")
