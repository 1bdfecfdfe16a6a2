"""The compute service: executions, the worker pool and the backtest engine."""
