"""Slow and idle clients, and oversized headers, against `twinrank serve`: bounded by the server's limits, and
a well-behaved client does not notice.

While a well-behaved open-loop client sends POST /rank, an attacker keeps open, for the whole run:
- slowloris connections, each trickling one header byte every 200 ms (reopened when the server closes one);
- idle connections: half sent one request and keep the connection alive, half never send a byte;
- a request with a 64 KiB header every 50 ms.
Figures: the good client's p99 before and during the attack and its errors, how long the server let slow and
idle connections live (bounded by `header_timeout_s` and `keep_alive_timeout_s`), the oversized requests'
answers (431), and the server's open file descriptors before, at the peak and after.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

from load_tests.chaos.base import CaseContext, CaseResult
from load_tests.chaos.child_server import bundle_root, served
from load_tests.generator.config import OpenLoopConfig
from load_tests.generator.engine import run as run_open_loop
from load_tests.generator.http1 import Target
from load_tests.generator.mix import build_mix
from load_tests.generator.queries import builtin_queries

NAME = "slow_clients"
TRICKLE_S = 0.2
BIG_HEADER = 64 * 1024


@dataclass
class Plan:
    header_timeout_s: float
    keep_alive_s: int
    seconds: float
    rate: float
    slow: int
    idle: int


QUICK = Plan(header_timeout_s=1.0, keep_alive_s=1, seconds=4.0, rate=40, slow=50, idle=100)
FULL = Plan(header_timeout_s=10.0, keep_alive_s=5, seconds=30.0, rate=80, slow=200, idle=300)


@dataclass
class AttackLog:
    slow_lifetimes: list[float] = field(default_factory=list)
    slow_408: int = 0
    idle_lifetimes: list[float] = field(default_factory=list)
    big_statuses: dict[str, int] = field(default_factory=dict)
    open_now: int = 0
    peak_open: int = 0


async def _closed_after(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, trickle: bool) -> bytes:
    """Wait until the server closes the connection (trickling header bytes meanwhile); what it sent last."""
    got = b""
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), TRICKLE_S if trickle else 60)
        except TimeoutError:
            if trickle:
                try:
                    writer.write(b"a")
                    await writer.drain()
                except OSError:
                    return got
            continue
        except OSError:
            return got
        if not chunk:
            return got
        got += chunk


async def _attack(host: str, port: int, plan: Plan, until: float, log: AttackLog) -> None:
    loop = asyncio.get_running_loop()

    async def connection(kind: str) -> None:
        while loop.time() < until:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            log.open_now += 1
            log.peak_open = max(log.peak_open, log.open_now)
            start = loop.time()
            try:
                if kind == "slow":
                    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    reply = await _closed_after(reader, writer, trickle=True)
                    log.slow_lifetimes.append(loop.time() - start)
                    log.slow_408 += reply.startswith(b"HTTP/1.1 408")
                else:
                    if kind == "idle_after_request":
                        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                        await reader.readuntil(b"}")  # the small JSON body of /healthz
                        start = loop.time()
                    await _closed_after(reader, writer, trickle=False)
                    log.idle_lifetimes.append(loop.time() - start)
            except OSError:
                pass
            finally:
                log.open_now -= 1
                writer.close()

    async def oversized() -> None:
        request = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * BIG_HEADER + b"\r\n\r\n")
        while loop.time() < until:
            try:
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(request)
                reply = await asyncio.wait_for(_closed_after(reader, writer, trickle=False), 10)
                status = reply[9:12].decode() if reply.startswith(b"HTTP/1.1 ") else "closed"
            except (OSError, TimeoutError) as exc:
                status = type(exc).__name__
            log.big_statuses[status] = log.big_statuses.get(status, 0) + 1
            await asyncio.sleep(0.05)

    kinds = ["slow"] * plan.slow + ["idle_after_request", "idle_silent"] * (plan.idle // 2)
    await asyncio.gather(*(connection(k) for k in kinds), oversized())


def _fds(pid: int) -> int | None:
    try:
        import psutil

        return psutil.Process(pid).num_fds()
    except Exception:  # psutil missing or the process gone: the figure is simply absent
        return None


def run(ctx: CaseContext) -> CaseResult:
    t0 = time.monotonic()
    plan = QUICK if ctx.quick else FULL
    root = bundle_root(ctx.workdir, ctx.quick)
    requests = build_mix(builtin_queries(500, seed=ctx.seed), n_bodies=500, seed=ctx.seed)
    env = {"TWINRANK_HEADER_TIMEOUT_S": str(plan.header_timeout_s),
           "TWINRANK_KEEP_ALIVE_TIMEOUT_S": str(plan.keep_alive_s)}
    config = OpenLoopConfig(rate=plan.rate, duration=plan.seconds, progress=False)
    log = AttackLog()
    with served(root, ctx.workdir / "slow-clients-serve.log", env) as server:
        target = Target.parse(server.url)
        run_open_loop(target, requests, OpenLoopConfig(rate=plan.rate, duration=1.0, progress=False))  # warm-up
        before = run_open_loop(target, requests, config, label="before")
        fds_before = _fds(server.proc.pid)
        # The attack outlives the good client's run by the longest a connection may live, so every attack
        # connection opened during the run is seen closed by the server.
        longest = max(plan.header_timeout_s, plan.keep_alive_s)
        attack_end = time.monotonic() + plan.seconds + 1.0
        attacker = threading.Thread(target=lambda: asyncio.run(_attack_until(target, plan, attack_end, longest,
                                                                             log)), daemon=True)
        attacker.start()
        time.sleep(min(1.0, plan.header_timeout_s / 2))  # the attack's connections are open
        during = run_open_loop(target, requests, config, label="during")
        fds_peak = _fds(server.proc.pid)
        attacker.join(longest + plan.seconds + 30)
        time.sleep(0.5)
        fds_after = _fds(server.proc.pid)
    p99_before, p99_during = before["latency_ms"]["p99_ms"], during["latency_ms"]["p99_ms"]
    slack = 3.0
    slow_max = max(log.slow_lifetimes, default=0.0)
    idle_max = max(log.idle_lifetimes, default=0.0)
    big_total = sum(log.big_statuses.values())
    figures = {
        "good_rate_rps": plan.rate, "good_p99_before_ms": p99_before, "good_p99_during_ms": p99_during,
        "good_p99_ratio": round(p99_during / p99_before, 2) if p99_before else None,
        "good_errors_during": during["errors"], "good_errors_before": before["errors"],
        "header_timeout_s": plan.header_timeout_s, "keep_alive_timeout_s": plan.keep_alive_s,
        "slow_connections_closed": len(log.slow_lifetimes), "slow_closed_with_408": log.slow_408,
        "slow_max_lifetime_s": round(slow_max, 2), "idle_connections_closed": len(log.idle_lifetimes),
        "idle_max_lifetime_s": round(idle_max, 2), "oversized_answers": log.big_statuses,
        "attack_peak_open_connections": log.peak_open,
        "server_fds": {"before": fds_before, "peak": fds_peak, "after": fds_after},
    }
    factor, extra_ms = (5.0, 100.0) if ctx.quick else (3.0, 25.0)
    checks = {
        "good client: no errors": not during["errors"],
        f"good client: p99 during <= max({factor:g}x before, before + {extra_ms:g} ms)":
            p99_during <= max(factor * p99_before, p99_before + extra_ms),
        "slow connections closed within header_timeout + 3 s":
            bool(log.slow_lifetimes) and slow_max <= plan.header_timeout_s + slack,
        "idle connections closed within max(header_timeout, keep_alive) + 3 s":
            bool(log.idle_lifetimes) and idle_max <= longest + slack,
        "oversized headers: every one answered 431": big_total > 0 and log.big_statuses.get("431", 0) == big_total,
        "file descriptors back to where they were (+10)":
            fds_before is None or fds_after is None or fds_after <= fds_before + 10,
    }
    failed = [name for name, ok in checks.items() if not ok]
    summary = (f"{plan.slow} slowloris + {plan.idle} idle connections + a 64 KiB header every 50 ms: good client "
               f"p99 {p99_before:.1f} -> {p99_during:.1f} ms, errors {during['errors'] or 'none'}; slow connections "
               f"lived <= {slow_max:.1f} s, idle <= {idle_max:.1f} s, oversized {log.big_statuses}; "
               + ("all bounds held" if not failed else "failed: " + "; ".join(failed)))
    return CaseResult(name=NAME, passed=not failed, summary=summary, figures=figures,
                      details=[f"{'ok' if ok else 'FAILED'}: {name}" for name, ok in checks.items()],
                      seconds=round(time.monotonic() - t0, 1))


async def _attack_until(target: Target, plan: Plan, end_monotonic: float, longest: float, log: AttackLog) -> None:
    loop = asyncio.get_running_loop()
    until = loop.time() + (end_monotonic - time.monotonic())
    # Connections stop being reopened at `until`; the open ones are waited for (the server must close them).
    await asyncio.wait_for(_attack(target.host, target.port, plan, until, log), until - loop.time() + longest + 20)
