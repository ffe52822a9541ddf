"""``-backtest``, ``-backtests`` and ``-compare``: backtests through the engine that trades.

* ``-backtest STRATEGY -prices FILE|gateway -allocations DIR|CSV [-from D] [-to D]
  [-account-config ACCOUNT] [-description TEXT] [-replace] [-cash N] [-fill-at close|next_open]
  [-check daily|signals] [-half-spread-bps N] [-commission SCHEDULE] [-cash-reserve PCT]
  [-drift-band PCT] [-min-trade DOLLARS] [-replacement-set NAME] [-plot FILE]``: run one,
  print its metrics and store it as ``{strategy}_{YYYYMMDD}_{description}``;
* ``-backtests``: list the stored ones;
* ``-compare NAME NAME... [-plot FILE]``: a side-by-side table (and the equity curves in one PNG).

Results live in ``DATA_DIR/backtests.sqlite3``; ``-account-config`` reads ``ACCOUNTS_FILE``
(and ``REPLACEMENT_SETS_FILE``) as the daemon does, and the account flags override what it
says. ``-prices gateway`` reads daily bars from the IB gateway of the daemon's settings
(``IB_GATEWAY_HOST``/``IB_GATEWAY_PORT``/``TRADING_MODE``), cached under ``DATA_DIR``; nothing
else connects to a broker. Flags are strict, as ``app.cli``'s: an unknown, abbreviated,
repeated or misplaced flag, or a bad value, exits 2 naming it. Exit codes: 0 done, 2 bad input
(the message names the flag, file and line), 1 the gateway could not serve the prices.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from broker_connector_base import BrokerError, InvalidInputError

from app.backtests.options import (
    SCHEDULES,
    BacktestPaths,
    backtest_settings,
    day,
    half_spread_bps,
    money,
    percent,
    positive_money,
    strategy,
)
from app.cli_flags import flag, given, refuse_unknown

__all__ = ["BACKTEST_FLAGS", "main"]

BACKTEST_FLAGS = frozenset({"-backtest", "--backtest", "-backtests", "--backtests"}) | frozenset(
    {"-compare", "--compare"}
)
"""A command line naming one of these is a backtest command (``app.cli`` dispatches here)."""

EXIT_OK = 0
EXIT_BROKER = 1
EXIT_BAD_INPUT = 2

GATEWAY = "gateway"
"""``-prices gateway``: daily bars from the IB gateway instead of a file."""


def _parser() -> tuple[argparse.ArgumentParser, set[str]]:
    """The parser, and every option string it knows (``-h`` included)."""
    parser = argparse.ArgumentParser(
        prog="rebalance",
        description="Backtests through the engine that trades.",
        allow_abbrev=False,
    )
    known = {"-h", "--help"}
    command = parser.add_mutually_exclusive_group(required=True)
    known.update(flag(command, "backtest", type=strategy, metavar="STRATEGY", help="run one"))
    known.update(flag(command, "backtests", nargs=0, help="list the stored backtests"))
    known.update(flag(command, "compare", nargs="+", metavar="NAME", help="side by side"))
    for name, options in _RUN_FLAGS:
        known.update(flag(parser, name, **options))
    known.update(flag(parser, "description", default="backtest", metavar="TEXT"))
    known.update(flag(parser, "replace", nargs=0, help="overwrite a backtest of that name"))
    known.update(flag(parser, "plot", type=Path, metavar="FILE", help="equity curves PNG"))
    known.update(flag(parser, "env-file", dest="env_file", type=Path, default=Path(".env")))
    return parser, known


_RUN_FLAGS: list[tuple[str, dict[str, object]]] = [
    ("prices", {"metavar": "FILE|gateway", "help": "price CSV, or 'gateway' for IB's bars"}),
    ("allocations", {"type": Path, "metavar": "DIR|CSV", "help": "allocation history"}),
    ("from", {"dest": "start", "type": day, "metavar": "YYYY-MM-DD"}),
    ("to", {"dest": "end", "type": day, "metavar": "YYYY-MM-DD"}),
    ("account-config", {"dest": "account", "metavar": "ACCOUNT", "help": "accounts.yaml entry"}),
    ("cash", {"type": positive_money, "metavar": "DOLLARS", "help": "starting cash"}),
    ("fill-at", {"dest": "fill_at", "choices": ("close", "next_open")}),
    ("check", {"choices": ("daily", "signals")}),
    ("half-spread-bps", {"dest": "bps", "type": half_spread_bps, "metavar": "BPS"}),
    ("commission", {"choices": SCHEDULES, "metavar": "SCHEDULE", "help": ", ".join(SCHEDULES)}),
    ("cash-reserve", {"dest": "cash_reserve", "type": percent, "metavar": "PERCENT"}),
    ("drift-band", {"dest": "drift_band", "type": percent, "metavar": "PERCENT"}),
    ("min-trade", {"dest": "min_trade", "type": money, "metavar": "DOLLARS"}),
    ("replacement-set", {"dest": "replacement_set", "metavar": "NAME"}),
]

_RUN_ONLY = {
    str(options.get("dest", name.replace("-", "_"))): f"-{name}" for name, options in _RUN_FLAGS
} | {"description": "-description", "replace": "-replace"}


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse flags that do not belong together, naming them (``parser.error``: exit 2)."""
    if args.backtest is not None:
        for dest in ("prices", "allocations"):
            if getattr(args, dest) is None:
                parser.error(f"-backtest needs -{dest}")
        if args.start is not None and args.end is not None and args.start > args.end:
            parser.error(f"-from {args.start} is after -to {args.end}")
        return
    command = "-backtests" if args.backtests else "-compare"
    for dest in given(args):
        if dest in _RUN_ONLY:
            parser.error(f"{_RUN_ONLY[dest]} applies to -backtest only, not to {command}")
    if args.backtests and args.plot is not None:
        parser.error("-plot applies to -backtest and -compare, not to -backtests")


def main(argv: list[str] | None = None) -> int:
    """Entry point for the backtest commands (``app.cli`` calls it)."""
    parser, known = _parser()
    words = sys.argv[1:] if argv is None else argv
    refuse_unknown(parser, words, known)
    args = parser.parse_args(words)
    _check(parser, args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        paths = BacktestPaths(_env_file=args.env_file)
        return _run(args, paths)
    except InvalidInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BROKER


def _run(args: argparse.Namespace, paths: BacktestPaths) -> int:
    from rebalance_backtest import BacktestStore, report
    from rebalance_backtest.store import BACKTESTS_FILE

    store = BacktestStore(paths.data_dir / BACKTESTS_FILE)
    try:
        if args.backtests:
            print(report.list_table([store.load(n) for n in store.names()]))
            return EXIT_OK
        names = args.compare or [_backtest(args, paths, store)]
        stored = [store.load(name) for name in names]
        print(report.compare_table(stored))
        if args.plot is not None:
            report.plot_equity(stored, args.plot)
            print(f"equity curves: {args.plot}")
        return EXIT_OK
    finally:
        store.close()


def _backtest(args: argparse.Namespace, paths: BacktestPaths, store: object) -> str:
    from rebalance_backtest import BacktestStore, backtest_name, load_allocations, run_backtest

    assert isinstance(store, BacktestStore)
    name = backtest_name(args.backtest, datetime.now(UTC).date(), args.description)
    if name in store.names() and not args.replace:
        raise InvalidInputError(
            f"a backtest named {name} already exists; give another -description, or -replace "
            "to overwrite it",
            str(store.path),
        )
    settings, replacements = backtest_settings(args, paths)
    history = load_allocations(args.allocations, args.backtest)
    if args.prices == GATEWAY:
        from app.backtests.gateway import gateway_prices

        prices = gateway_prices(paths, settings, history, replacements)
    else:
        from rebalance_backtest import load_prices

        prices = load_prices(Path(args.prices))
    result = run_backtest(settings, prices, history, replacements=replacements)
    store.save(name, result, replace=args.replace)
    for warning in result.warnings[:20]:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"backtest {name}: {result.runs} rebalances, {len(result.trades)} trades, stored in "
        f"{store.path}"
    )
    return name
