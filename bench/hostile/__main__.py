"""`python -m bench.hostile [--quick] [--json]`: send the corpus, print a table per class.

Like the benchmarks, the exit status says whether the run completed, not whether the
figures were reached (crashed 0, accepted 0, every canary applied): those are printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.cli import bench_parser, prepare
from bench.hostile import report
from bench.hostile.run import FULL, QUICK, TINY, run
from bench.sandbox import DEFAULT_REDIS_DB


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = bench_parser(
        "python -m bench.hostile",
        "Hostile inputs to every entry point, judged refused, crashed or accepted, "
        "while a canary change must keep converging.",
        quick="Three inputs per class.",
    )
    parser.add_argument(
        "--details", type=Path, default=None, help="Write every verdict to this file (JSON lines)."
    )
    hidden = argparse.SUPPRESS
    parser.add_argument("--tiny", action="store_true", help=hidden)  # the test suite's run
    parser.add_argument("--redis-db", type=int, default=DEFAULT_REDIS_DB, help=hidden)
    parser.add_argument("--logs", type=Path, default=None, help=hidden)  # keep process logs
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    prepare()
    mode = TINY if args.tiny else QUICK if args.quick else FULL
    try:
        if args.details is not None:
            args.details.write_text("")
        results, extra = run(mode, args.redis_db, args.logs, args.details)
    except KeyboardInterrupt:
        print(
            "interrupted; the run's processes, vhost and database were cleaned up", file=sys.stderr
        )
        sys.exit(130)
    print(report.table(results, extra), end="")
    if args.json:
        print(json.dumps(report.summary(results, extra), separators=(",", ":")))


if __name__ == "__main__":
    main()
