"""Running executions: the execution records (every read and write of `executions`),
the job a worker runs, the worker pool, the trade store and result delivery.
`backtest_service.py` is its door."""
