"""`trialalerts bench`: performance scenarios, each figure beside an anchor from the same run.

`runner.SCENARIOS` is the registry; `run_bench(names, scale)` returns BenchRows
(worker.bench.rows) that `format_table` prints and `write_json` saves.
"""

from worker.bench.runner import SCENARIOS, Scenario, format_table, run_bench, write_json

__all__ = ["SCENARIOS", "Scenario", "format_table", "run_bench", "write_json"]
