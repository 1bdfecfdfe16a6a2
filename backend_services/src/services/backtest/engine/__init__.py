"""The engine: bars and contract models in, a run out. Pure: no MongoDB, no HTTP, no
execution machinery; numpy and a few compiled loops. `backtest_engine.py` is its door."""
