"""The API service: users, strategies and backtests."""
