"""The market-data catalog both services read: which symbols, timeframes and ranges exist."""
