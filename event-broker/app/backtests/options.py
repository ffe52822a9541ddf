"""The backtest command's values: flag parsers, the daemon settings it reads, and the account
and ``BacktestSettings`` a command line describes.

The account is the ``-account-config`` entry of ``ACCOUNTS_FILE`` (or a plain paper account),
then each account flag given replaces that one setting: ``-cash-reserve``, ``-drift-band``,
``-min-trade``, ``-replacement-set``, ``-commission``. A bad value exits 2 naming the flag and
the value (argparse types), a replacement set that is not in ``REPLACEMENT_SETS_FILE`` too.
"""

from __future__ import annotations

import argparse
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from broker_connector_base import AccountConfig, CommissionScheduleName, InvalidInputError
from broker_connector_base.plan import STRATEGY_NAME_PATTERN
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.config.files import load_accounts_file, load_replacement_sets

if TYPE_CHECKING:
    from rebalance_backtest import BacktestSettings
    from rebalance_engine import ReplacementService

__all__ = [
    "SCHEDULES",
    "BacktestPaths",
    "backtest_settings",
    "day",
    "half_spread_bps",
    "money",
    "percent",
    "positive_money",
    "strategy",
]

SCHEDULES: tuple[str, ...] = get_args(CommissionScheduleName)
"""The ``-commission`` values: the calculator's schedules (``AccountConfig``'s names)."""

_MAX_BPS = Decimal(10_000)
_STRATEGY = re.compile(STRATEGY_NAME_PATTERN)


class BacktestPaths(BaseSettings):
    """The daemon's settings a backtest uses (environment and ``.env``, as the daemon reads
    them): its files, and the IB gateway ``-prices gateway`` reads bars from."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", env_ignore_empty=True)

    data_dir: Path = Path("data")
    accounts_file: Path = Path("accounts.yaml")
    replacement_sets_file: Path = Path("replacement-sets.yaml")
    trading_mode: Literal["paper", "live"] = "paper"
    ib_gateway_host: str = Field(default="127.0.0.1", min_length=1)
    ib_gateway_port: int | None = Field(default=None, ge=1, le=65535)


def strategy(value: str) -> str:
    """``-backtest``: a strategy name as the allocations API and ``accounts.yaml`` spell them."""
    if not _STRATEGY.match(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a strategy name (letters, digits, '_', '.', '-'; 1 to 128 "
            "characters)"
        )
    return value


def day(value: str) -> date:
    """``-from``/``-to``: an ISO date."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _number(value: str) -> Decimal:
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise argparse.ArgumentTypeError(f"{value!r} is not a finite number")
    return number


def money(value: str) -> Decimal:
    """A non-negative amount of dollars (``-min-trade``)."""
    number = _number(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} must not be negative")
    return number


def positive_money(value: str) -> Decimal:
    """A positive amount of dollars (``-cash``)."""
    number = _number(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be more than 0")
    return number


def percent(value: str) -> Decimal:
    """A percent from 0 to 100 (``-cash-reserve``, ``-drift-band``)."""
    number = _number(value)
    if not 0 <= number <= 100:
        raise argparse.ArgumentTypeError(f"{value!r} must be a percent from 0 to 100")
    return number


def half_spread_bps(value: str) -> Decimal:
    """Basis points from 0 to below 10,000 (a bid stays above 0)."""
    number = _number(value)
    if not 0 <= number < _MAX_BPS:
        raise argparse.ArgumentTypeError(f"{value!r} must be from 0 to below 10000 bps")
    return number


_ACCOUNT_FLAGS = {
    "cash_reserve": ("cash_reserve_percent", "-cash-reserve"),
    "drift_band": ("drift_band_percent", "-drift-band"),
    "min_trade": ("min_trade_value", "-min-trade"),
    "replacement_set": ("replacement_set", "-replacement-set"),
    "commission": ("commission_schedule", "-commission"),
}


def backtest_settings(
    args: argparse.Namespace, paths: BacktestPaths
) -> tuple[BacktestSettings, ReplacementService | None]:
    """The run's settings and the replacement sets its account needs.

    Raises:
        InvalidInputError: The account is unknown or invalid, or a replacement set is not in
            the replacement sets file; the message names the flag (or file) and the value.
    """
    from rebalance_backtest import BacktestSettings

    account, replacements = _configured(args, paths)
    account = _overridden(account, args)
    replacements = _replacements(account, args, paths, replacements)
    settings: dict[str, Any] = {
        "strategy": args.backtest,
        "account": account,
        "start": args.start,
        "end": args.end,
        "commission_schedule": account.commission_schedule,
    }
    for dest, field in (("cash", "initial_cash"), ("fill_at", "fill_at"), ("check", "check")):
        if getattr(args, dest) is not None:
            settings[field] = getattr(args, dest)
    if args.bps is not None:
        settings["half_spread_bps"] = args.bps
    try:
        return BacktestSettings.model_validate(settings), replacements
    except ValidationError as exc:
        raise InvalidInputError(f"backtest settings: {exc}", source="command line") from None


def _configured(
    args: argparse.Namespace, paths: BacktestPaths
) -> tuple[AccountConfig, ReplacementService | None]:
    """The ``-account-config`` entry (with the replacement sets file), else a paper account."""
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
    return found, replacements


def _overridden(account: AccountConfig, args: argparse.Namespace) -> AccountConfig:
    """``account`` with every account flag given in place of its setting."""
    changes = {
        field: getattr(args, dest)
        for dest, (field, _) in _ACCOUNT_FLAGS.items()
        if getattr(args, dest) is not None
    }
    if not changes:
        return account
    try:
        return AccountConfig.model_validate({**account.model_dump(), **changes})
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        flag = next((f for name, f in _ACCOUNT_FLAGS.values() if name == field), field)
        raise InvalidInputError(
            f"{flag} {error.get('input')!r}: {error['msg']}", source="command line"
        ) from None


def _replacements(
    account: AccountConfig,
    args: argparse.Namespace,
    paths: BacktestPaths,
    loaded: ReplacementService | None,
) -> ReplacementService | None:
    """The sets file when ``account`` uses a set, after checking the set is in it and valid."""
    name = account.replacement_set
    if name is None:
        return None
    where = f"-replacement-set {name}" if args.replacement_set is not None else name
    sets_file = paths.replacement_sets_file
    if loaded is None:
        if not sets_file.exists():
            raise InvalidInputError(
                f"{where}: no replacement sets file (REPLACEMENT_SETS_FILE; looked at "
                f"{sets_file.absolute()})",
                str(sets_file),
            )
        loaded = load_replacement_sets(sets_file)
    if name not in loaded.set_names():
        known = ", ".join(sorted(loaded.set_names())) or "none"
        raise InvalidInputError(
            f"{where} is not a replacement set (known: {known})", str(sets_file)
        )
    broken = loaded.invalid_sets().get(name)
    if broken is not None:
        raise InvalidInputError(f"{where} is invalid: {broken}", str(sets_file))
    return loaded
