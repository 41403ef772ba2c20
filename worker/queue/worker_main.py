"""The worker master: dramatiq's command line, writing our JSON log lines.

`trialalerts worker` execs `python -m worker.queue.worker_main worker.queue.tasks
--skip-logging …`: dramatiq's own lines (the master's, and its worker
processes' before they import worker.queue.tasks) then go through the one
formatter in worker.core.logs instead of dramatiq's plain text.
"""

from __future__ import annotations

import logging
import sys

from dramatiq.cli import main as dramatiq_main
from dramatiq.cli import make_argument_parser

from worker.core.logs import configure


def main() -> int:
    args = make_argument_parser().parse_args(sys.argv[1:])
    configure("worker", logging.DEBUG if args.verbose else logging.INFO)
    # On SIGHUP (and --watch) dramatiq re-execs argv: make that this same command.
    sys.argv = [sys.executable, "-m", __spec__.name, *sys.argv[1:]]
    return dramatiq_main(args)


if __name__ == "__main__":
    sys.exit(main())
