"""Backtests from the command line (``tools/rebalance.sh -backtest ...``): no broker, no daemon.

``cli.py`` parses the backtest flags and runs ``rebalance_backtest`` with the daemon's accounts
and replacement sets; ``app.cli`` hands it every command line that names a backtest flag.
"""
