"""``-backtest``, ``-backtests`` and ``-compare``: backtests through the engine that trades.

* ``-backtest STRATEGY -prices FILE -allocations DIR|CSV [-from D] [-to D]
  [-account-config ACCOUNT] [-description TEXT] [-replace] [-cash N] [-fill-at close|next_open]
  [-check daily|signals] [-half-spread-bps N] [-commission SCHEDULE] [-plot FILE]``: run one,
  print its metrics and store it as ``{strategy}_{YYYYMMDD}_{description}``;
* ``-backtests``: list the stored ones;
* ``-compare NAME NAME... [-plot FILE]``: a side-by-side table (and the equity curves in one PNG).

Results live in ``DATA_DIR/backtests.sqlite3``; ``-account-config`` reads ``ACCOUNTS_FILE``
(and ``REPLACEMENT_SETS_FILE``) as the daemon does. Nothing connects to a broker. Exit codes:
0 done, 2 bad input (the message names the flag, file and line).
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from broker_connector_base import AccountConfig, InvalidInputError
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.config.files import load_accounts_file, load_replacement_sets

if TYPE_CHECKING:
    from rebalance_engine import ReplacementService

__all__ = ["BACKTEST_FLAGS", "main"]

BACKTEST_FLAGS = frozenset({"-backtest", "--backtest", "-backtests", "--backtests"}) | frozenset(
    {"-compare", "--compare"}
)
"""A command line naming one of these is a backtest command (``app.cli`` dispatches here)."""

EXIT_OK = 0
EXIT_BAD_INPUT = 2
_SCHEDULES = ("ibkr_pro_fixed", "ibkr_pro_tiered", "ibkr_lite", "zero")


class BacktestPaths(BaseSettings):
    """The daemon's file settings a backtest uses (environment and ``.env``, as the daemon)."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", env_ignore_empty=True)

    data_dir: Path = Path("data")
    accounts_file: Path = Path("accounts.yaml")
    replacement_sets_file: Path = Path("replacement-sets.yaml")


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _decimal(value: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be a non-negative number")
    return number


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rebalance",
        description="Backtests through the engine that trades.",
        allow_abbrev=False,
    )
    command = parser.add_mutually_exclusive_group(required=True)
    command.add_argument("-backtest", "--backtest", metavar="STRATEGY", help="run a backtest")
    command.add_argument("-backtests", "--backtests", action="store_true", help="list them")
    command.add_argument("-compare", "--compare", nargs="+", metavar="NAME", help="side by side")
    parser.add_argument("-prices", "--prices", type=Path, metavar="FILE", help="price CSV")
    parser.add_argument("-allocations", "--allocations", type=Path, metavar="DIR", help="history")
    parser.add_argument("-from", "--from", dest="start", type=_day, metavar="YYYY-MM-DD")
    parser.add_argument("-to", "--to", dest="end", type=_day, metavar="YYYY-MM-DD")
    parser.add_argument("-account-config", "--account-config", dest="account", metavar="ACCOUNT")
    parser.add_argument("-description", "--description", default="backtest", metavar="TEXT")
    parser.add_argument("-replace", "--replace", action="store_true", help="overwrite that name")
    parser.add_argument("-cash", "--cash", type=_decimal, default=Decimal(100_000))
    parser.add_argument("-fill-at", "--fill-at", dest="fill_at", choices=("close", "next_open"))
    parser.add_argument("-check", "--check", choices=("daily", "signals"), default="daily")
    parser.add_argument("-half-spread-bps", "--half-spread-bps", dest="bps", type=_decimal)
    parser.add_argument("-commission", "--commission", choices=_SCHEDULES, metavar="SCHEDULE")
    parser.add_argument("-plot", "--plot", type=Path, metavar="FILE", help="equity curves PNG")
    parser.add_argument("-env-file", "--env-file", dest="env_file", type=Path, default=Path(".env"))
    return parser


_RUN_ONLY = {
    "prices": "-prices",
    "allocations": "-allocations",
    "start": "-from",
    "end": "-to",
    "account": "-account-config",
    "fill_at": "-fill-at",
    "bps": "-half-spread-bps",
    "commission": "-commission",
}


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.backtest is not None:
        for dest in ("prices", "allocations"):
            if getattr(args, dest) is None:
                parser.error(f"-backtest needs -{dest}")
        return
    for dest, flag in _RUN_ONLY.items():
        if getattr(args, dest) is not None:
            parser.error(f"{flag} applies to -backtest only")
    if args.backtests and args.plot is not None:
        parser.error("-plot applies to -backtest and -compare")


def main(argv: list[str] | None = None) -> int:
    """Entry point for the backtest commands (``app.cli`` calls it)."""
    parser = _parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        paths = BacktestPaths(_env_file=args.env_file)
        return _run(args, paths)
    except InvalidInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


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
    from rebalance_backtest import (
        BacktestSettings,
        BacktestStore,
        backtest_name,
        load_allocations,
        load_prices,
        run_backtest,
    )

    assert isinstance(store, BacktestStore)
    name = backtest_name(args.backtest, datetime.now(UTC).date(), args.description)
    if name in store.names() and not args.replace:
        raise InvalidInputError(
            f"a backtest named {name} already exists; give another -description, or -replace "
            "to overwrite it",
            str(store.path),
        )
    account, replacements = _account(args, paths)
    fill_at: Literal["close", "next_open"] = args.fill_at or "close"
    settings = BacktestSettings(
        strategy=args.backtest,
        account=account,
        start=args.start,
        end=args.end,
        initial_cash=args.cash,
        fill_at=fill_at,
        check=args.check,
        half_spread_bps=args.bps if args.bps is not None else Decimal(0),
        commission_schedule=args.commission,
    )
    prices = load_prices(args.prices)
    history = load_allocations(args.allocations, args.backtest)
    result = run_backtest(settings, prices, history, replacements=replacements)
    store.save(name, result, replace=args.replace)
    for warning in result.warnings[:20]:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"backtest {name}: {result.runs} rebalances, {len(result.trades)} trades, stored in "
        f"{store.path}"
    )
    return name


def _account(
    args: argparse.Namespace, paths: BacktestPaths
) -> tuple[AccountConfig, ReplacementService | None]:
    if args.account is None:
        return AccountConfig(account_id="BACKTEST", type="paper", strategy_name=args.backtest), None
    sets_file = paths.replacement_sets_file
    replacements = load_replacement_sets(sets_file) if sets_file.exists() else None
    loaded = load_accounts_file(paths.accounts_file, replacement_sets=replacements)
    found = next((a for a in loaded.accounts if a.account_id == args.account), None)
    if found is None:
        bad = next((e for e in loaded.invalid if e.account_id == args.account), None)
        if bad is not None:
            raise bad.error()
        known = ", ".join(a.account_id for a in loaded.accounts) or "none"
        raise InvalidInputError(
            f"-account-config {args.account}: no such account (known: {known})",
            str(paths.accounts_file),
        )
    return found, replacements if found.replacement_set is not None else None
