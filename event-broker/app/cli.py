"""Manual trigger: ``python -m app.cli -account ID [-exec rebalance]`` or ``-all``.

Runs through the same path as a realtime signal (account lock, PDT guard, journal,
notification, one worker process per account) and prints the proposed or placed trades.
Exit codes: 0 every run succeeded, 1 a run failed or was refused, 2 bad input or config.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sqlite3
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from broker_connector_base import AccountConfig, InvalidInputError

from app.backtests.cli import BACKTEST_FLAGS
from app.backtests.cli import main as backtest_main
from app.config.logs import configure_logging, secrets_of
from app.config.settings import AppConfig, load_app_config
from app.intake.events import KNOWN_EXECS
from app.models import AccountExecutionResult, ExecMode
from app.notify.report import format_results
from app.runs.strategy import StrategyExecutor
from app.runtime import Runtime

__all__ = ["main", "run_manual"]

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2


class _Once(argparse.Action):
    """Store a flag's value, refusing the flag when it is given twice (no silent last-wins)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        given: tuple[str, ...] = getattr(namespace, "_given", ())
        if self.dest in given:
            parser.error(f"argument {option_string}: given more than once")
        namespace._given = (*given, self.dest)
        setattr(namespace, self.dest, True if self.nargs == 0 else values)


def _flag(parser: argparse.ArgumentParser, name: str, **kwargs: Any) -> None:
    """``-name``/``--name`` given at most once; ``nargs=0`` for an on/off switch."""
    if kwargs.get("nargs") == 0:
        kwargs.setdefault("default", False)
    parser.add_argument(f"-{name}", f"--{name}", action=_Once, **kwargs)


def _parser() -> argparse.ArgumentParser:
    # allow_abbrev=False: "--acc" must not silently mean "--account".
    parser = argparse.ArgumentParser(
        prog="rebalance",
        description="Preview (default) or execute a rebalance of one account or of all.",
        allow_abbrev=False,
    )
    _flag(parser, "account", metavar="ID", help="the account to run")
    _flag(parser, "all", nargs=0, help="every enabled account of TRADING_MODE")
    _flag(
        parser,
        "exec",
        dest="exec_mode",
        choices=KNOWN_EXECS,
        default="print-rebalance",
        help="print-rebalance (preview, default) or rebalance (places orders)",
    )
    _flag(parser, "env-file", dest="env_file", type=Path, help="dotenv file (default .env)")
    return parser


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.all == (args.account is not None):
        parser.error("give one of -account ID or -all")
    return args


async def run_manual(
    config: AppConfig, accounts: tuple[AccountConfig, ...], mode: ExecMode
) -> list[AccountExecutionResult]:
    """Run ``accounts`` (grouped by strategy, in parallel within the bound) as a manual event."""
    # Several accounts are forked from one fork server rather than each paying an interpreter
    # start and the library imports (about 0.6 s of CPU); a single account gains nothing.
    runtime = Runtime(config, fork_server=len(accounts) > 1)
    try:
        await runtime.start(report_unfinished=False)
        event_row = runtime.journal.record_event(
            event_id=f"manual-{uuid.uuid4().hex[:12]}",
            channel="manual",
            payload=json.dumps({"exec": mode, "accounts": [a.account_id for a in accounts]}),
        )
        results = await _run_groups(runtime.strategies, accounts, mode, event_row)
        failed = sum(1 for r in results if not r.success)
        # Worded as the daemon words a signal's outcome (StrategyExecutor).
        status = "succeeded" if failed == 0 else f"{failed} of {len(results)} failed"
        runtime.journal.set_event_outcome(event_row, f"ran {len(results)} accounts: {status}")
        return results
    finally:
        await runtime.stop(0)  # nothing runs any more: this stops the fork server
        runtime.close()


async def _run_groups(
    strategies: StrategyExecutor,
    accounts: tuple[AccountConfig, ...],
    mode: ExecMode,
    event_row: int,
) -> list[AccountExecutionResult]:
    """Each strategy's accounts in parallel; SIGTERM/SIGINT terminate the running ones."""
    loop = asyncio.get_running_loop()
    stop_tasks: list[asyncio.Task[None]] = []

    def stop(sig: signal.Signals) -> None:
        logger.warning("Received %s; terminating the running accounts", sig.name)
        stop_tasks.append(asyncio.create_task(strategies.shutdown(0)))

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig)
    groups: dict[str, list[AccountConfig]] = {}
    for account in accounts:
        groups.setdefault(account.strategy_name, []).append(account)
    try:
        done = await asyncio.gather(
            *(
                strategies.execute_accounts(name, group, mode, event_row=event_row)
                for name, group in groups.items()
            )
        )
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await asyncio.gather(*stop_tasks)
    return [r for strategy in done for r in strategy.results]


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m app.cli``."""
    given = sys.argv[1:] if argv is None else argv
    if BACKTEST_FLAGS.intersection(given):
        # Backtests need no daemon settings, broker or worker: their own module and flags.
        return backtest_main(given)
    args = _parse_args(argv)
    try:
        config = load_app_config(
            env_file=args.env_file or Path(".env"), env_file_required=args.env_file is not None
        )
        configure_logging(config.settings.log_level, secrets=secrets_of(config))
        if args.all:
            accounts = config.tradable_accounts()
            if not accounts:
                raise InvalidInputError(
                    f"no enabled {config.settings.trading_mode} account to run",
                    str(config.settings.accounts_file),
                )
        else:
            accounts = (config.account(args.account),)
    except InvalidInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        results = asyncio.run(run_manual(config, accounts, args.exec_mode))
    except (OSError, sqlite3.Error, InvalidInputError) as exc:
        print(f"error: cannot use DATA_DIR {config.settings.data_dir}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(format_results(results))
    return EXIT_OK if all(r.success for r in results) else EXIT_RUN_FAILED


if __name__ == "__main__":
    sys.exit(main())
