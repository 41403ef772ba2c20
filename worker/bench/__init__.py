"""`trialalerts bench`: performance scenarios, each figure beside an anchor from the same run.

`runner.SCENARIOS` is the registry; `runner.run_bench(names, scale)` returns
BenchRows (worker.bench.rows) that worker.bench.report prints as a table, as
Markdown and as JSON.  Nothing is imported here: sender processes and the
stand-in endpoints start from single modules of this package and should not
pay for all the others.
"""
