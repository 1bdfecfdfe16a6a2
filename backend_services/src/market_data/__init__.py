"""Market data: OHLCV bars stored as packed column buckets, with a catalog per symbol."""
