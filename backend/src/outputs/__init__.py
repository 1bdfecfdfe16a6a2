"""What a finished backtest is exported as: CSV files and the HTML report."""
