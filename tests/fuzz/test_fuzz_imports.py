"""Fuzzing subscription imports: any row is a subscription or a reason, never a crash."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.subscriptions.files import ImportFileError, RowError, read_subscription_file
from worker.subscriptions.rows import FIELDS, SubscriptionRow, parse_row

VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "condition",
            "study",
            "daily",
            "instant",
            "weekly",
            "NCT07635641",
            "ada@example.org",
            "45.4,9.2,50",
            "RECRUITING;UNKNOWN",
            "Europe/Rome",
            "",
        ]
    ),
)
ROWS = st.dictionaries(st.sampled_from(FIELDS), VALUES, min_size=1)


@settings(max_examples=300, deadline=None)
@given(ROWS)
def test_parse_row_returns_a_subscription_or_raises_value_error_with_a_reason(row: dict) -> None:
    try:
        parsed = parse_row(row)
    except ValueError as error:
        assert str(error).strip()
    else:
        assert isinstance(parsed, SubscriptionRow)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(ROWS, min_size=1, max_size=6))
def test_a_csv_file_yields_one_result_per_data_row_with_line_numbers(
    tmp_path: Path, rows: list[dict]
) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(FIELDS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: v.replace("\r", " ").replace("\n", " ") for k, v in row.items()})
    path = tmp_path / "fuzz.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    try:
        results = list(read_subscription_file(path))
    except ImportFileError as error:
        assert str(error).strip()
        return
    for line, result in results:
        assert line >= 2
        assert isinstance(result, SubscriptionRow) or (
            isinstance(result, RowError) and result.reason.strip() and result.line == line
        )
