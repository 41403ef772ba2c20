"""The `trialalerts` command, one module per command group (`worker.cli:main`)."""

from worker.cli.main import cli, main

__all__ = ["cli", "main"]
