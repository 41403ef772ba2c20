"""`python -m worker` is the `trialalerts` command."""

from worker.cli.main import main

main()
