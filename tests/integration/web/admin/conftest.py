"""Fixtures of the console tests: the app with one admin, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.integration.web.admin.console import Console, open_console
from worker.core.runtime import Runtime


@pytest.fixture
def console(runtime: Runtime) -> Console:
    return open_console(runtime)
