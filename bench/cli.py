"""`python -m bench [--quick] [--json] [--install-peers]`: run, print the table, write results.json.

Benchmarks are not tests: the exit status says whether the run completed, not whether the
figures were reached; those are in the table and in results.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from bench import harness, peers, report
from bench.plan import FULL, QUICK, SMOKE
from bench.sandbox import DEFAULT_REDIS_DB

RESULTS = Path(__file__).resolve().parent / "results.json"


def bench_parser(prog: str, description: str, *, quick: str) -> argparse.ArgumentParser:
    """The options every bench command has: --quick (what it makes smaller) and --json."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--json", action="store_true", help="Print one JSON object last.")
    return parser


def prepare() -> None:
    """Progress to stderr (pika kept quiet); SIGTERM unwinds like Ctrl-C, through every cleanup:
    processes, vhosts, databases."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="bench: %(message)s")
    logging.getLogger("bench").setLevel(logging.INFO)
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    signal.signal(signal.SIGTERM, _interrupted)


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = bench_parser(
        "python -m bench",
        "The pipeline against plain Celery and raw pika, the engine against "
        "pyinfra and Ansible, fan-out, latency and memory; medians of repetitions.",
        quick="Smaller sizes: under 5 minutes.",
    )
    parser.add_argument(
        "--install-peers",
        action="store_true",
        help="pip install pyinfra and ansible-core into bench/.peers/venv for the comparisons.",
    )
    hidden = argparse.SUPPRESS
    parser.add_argument("--smoke", action="store_true", help=hidden)  # the smoke test's sizes
    parser.add_argument("--no-peers", action="store_true", help=hidden)
    parser.add_argument("--output", type=Path, default=RESULTS, help=hidden)
    parser.add_argument("--redis-db", type=int, default=DEFAULT_REDIS_DB, help=hidden)
    parser.add_argument("--only", default=",".join(harness.BENCHMARKS), help=hidden)
    parser.add_argument("--markdown", action="store_true", help=hidden)  # for the README
    parser.add_argument("--keep", action="store_true", help=hidden)  # logs for a post-mortem
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    prepare()
    plan = SMOKE if args.smoke else QUICK if args.quick else FULL
    if args.smoke or args.no_peers:
        tools = peers.skipped("peers skipped in this run (--smoke or --no-peers)")
    elif args.install_peers:
        tools = peers.install()
    else:
        tools = peers.find()
    only = tuple(name.strip() for name in args.only.split(",") if name.strip())
    unknown = sorted(set(only) - set(harness.BENCHMARKS))
    if unknown:
        sys.exit(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(harness.BENCHMARKS)}")
    try:
        results = harness.run(plan, tools, redis_db=args.redis_db, only=only, keep=args.keep)
    except KeyboardInterrupt:
        print(
            "interrupted; every process, vhost and database of the run was cleaned up",
            file=sys.stderr,
        )
        sys.exit(130)
    report.write(results, args.output)
    print(report.markdown(results) if args.markdown else report.text(results), end="")
    print(f"results: {args.output}")
    if args.json:
        print(json.dumps(results, separators=(",", ":")))
