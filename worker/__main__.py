"""`python -m worker` is the `trialalerts` command."""

from worker.cli import main

main()
