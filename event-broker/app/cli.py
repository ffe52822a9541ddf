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
from pathlib import Path

from broker_connector_base import AccountConfig, InvalidInputError

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


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rebalance",
        description="Preview (default) or execute a rebalance of one account or of all.",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("-account", "--account", metavar="ID", help="the account to run")
    target.add_argument(
        "-all", "--all", action="store_true", help="every enabled account of TRADING_MODE"
    )
    parser.add_argument(
        "-exec",
        "--exec",
        dest="exec_mode",
        choices=KNOWN_EXECS,
        default="print-rebalance",
        help="print-rebalance (preview, default) or rebalance (places orders)",
    )
    parser.add_argument("--env-file", type=Path, default=Path(".env"), help="dotenv file")
    return parser.parse_args(argv)


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
    args = _parse_args(argv)
    try:
        config = load_app_config(env_file=args.env_file)
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
