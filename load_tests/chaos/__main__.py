"""`python -m load_tests.chaos [--quick] [--only a,b] [--out reports/reliability]`: run the fault campaign."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from load_tests.chaos.runner import CASE_ORDER, run_campaign

DEFAULT_OUT = Path("reports/reliability")


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m load_tests.chaos", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the short CI version of every case (tiny bundles)")
    ap.add_argument("--only", default="", help=f"comma-separated cases, of: {','.join(CASE_ORDER)}")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report folder (results.json, report.md, plots)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--case-timeout", type=float, default=None,
                    help="seconds a case may run before it fails and its processes are killed (default: its own)")
    args = ap.parse_args(argv)
    try:
        doc = run_campaign(args.out, quick=args.quick, only=args.only or None, seed=args.seed,
                           case_timeout_s=args.case_timeout,
                           log=_say,
                           command=shlex.join(["python", "-m", "load_tests.chaos", *(argv or sys.argv[1:])]))
    except ValueError as exc:
        _say(f"error: {exc}")
        return 2
    _say(f"wrote {args.out / 'report.md'}: {doc['passed']} passed, {doc['failed']} failed, "
         f"{len(doc['skipped'])} not present")
    return 1 if doc["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
