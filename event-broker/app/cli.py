"""Manual trigger, reports and the kill switch (``tools/rebalance.sh``):

* ``python -m app.cli -account ID [-exec rebalance]`` or ``-all``: preview or rebalance;
* ``-snapshot -account ID`` or ``-snapshot -all``: record portfolio snapshots;
* ``-report -account ID [-since YYYY-MM-DD] [-format text|json] [-plot FILE]``: the
  account's performance, drift and last runs from the journal;
* ``-spreads [-since YYYY-MM-DD]``: the quote recorder's spreads per symbol (``app.quotes``);
* ``-halt "reason"`` / ``-resume``: stop all trading at once, and end that (``app.control``).

Runs go through the same path as a realtime signal (account lock, PDT guard, journal,
notification, one worker process per account). Flags are strict: an unknown, abbreviated,
repeated or misplaced flag, or a bad value, exits 2 naming it. Exit codes: 0 every run
succeeded (or the report was printed, the switch set), 1 a run failed or was refused, 2 bad
input or config.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sqlite3
import sys
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from broker_connector_base import AccountConfig, InvalidInputError
from broker_connector_base.types import trading_day

from app.backtests.cli import BACKTEST_FLAGS
from app.backtests.cli import main as backtest_main
from app.cli_flags import flag as _flag
from app.cli_flags import given as _given
from app.cli_flags import refuse_unknown
from app.config.logs import configure_logging, secrets_of
from app.config.settings import AppConfig, load_app_config, load_settings
from app.control import halt_trading, resume_trading
from app.intake.events import KNOWN_EXECS
from app.models import AccountExecutionResult, RunMode
from app.notify.report import format_results
from app.quotes.report import format_spreads, spreads_since
from app.runs.strategy import StrategyExecutor
from app.runtime import Runtime
from app.store.files import JOURNAL_FILE, QUOTES_FILE
from app.store.journal import Journal

__all__ = ["main", "run_manual"]

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2


def _day(value: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None
    if day > trading_day(datetime.now(UTC)):
        raise argparse.ArgumentTypeError(f"{value} is after today (New York)")
    return day


def _parser() -> tuple[argparse.ArgumentParser, frozenset[str]]:
    """The parser, and every option string it knows (``-h`` included)."""
    parser = argparse.ArgumentParser(
        prog="rebalance",
        description=(
            "Preview (default) or execute a rebalance of one account or of all; take "
            "portfolio snapshots (-snapshot); print an account's performance (-report)."
        ),
        allow_abbrev=False,
    )
    known = {"-h", "--help"}
    known.update(_flag(parser, "account", metavar="ID", help="the account to run or report on"))
    known.update(_flag(parser, "all", nargs=0, help="every enabled account of TRADING_MODE"))
    known.update(
        _flag(
            parser,
            "exec",
            dest="exec_mode",
            choices=KNOWN_EXECS,
            help="print-rebalance (preview, default) or rebalance (places orders)",
        )
    )
    known.update(_flag(parser, "snapshot", nargs=0, help="record snapshots; places nothing"))
    known.update(_flag(parser, "report", nargs=0, help="performance, drift and last runs"))
    known.update(_flag(parser, "spreads", nargs=0, help="spreads of the recorded quotes"))
    known.update(
        _flag(parser, "since", type=_day, metavar="YYYY-MM-DD", help="-report, -spreads: from")
    )
    known.update(_flag(parser, "format", choices=("text", "json"), help="-report: text or json"))
    known.update(_flag(parser, "plot", type=Path, metavar="FILE", help="-report: PNG curve too"))
    known.update(_flag(parser, "halt", metavar="REASON", help="stop all trading now; say why"))
    known.update(_flag(parser, "resume", nargs=0, help="end a -halt: trading resumes"))
    known.update(_flag(parser, "env-file", dest="env_file", type=Path, help="dotenv file"))
    return parser, frozenset(known)


_REPORT_ONLY = (
    ("since", "-since", "-report and -spreads"),
    ("format", "-format", "-report"),
    ("plot", "-plot", "-report"),
)


def _check_control(parser: argparse.ArgumentParser, args: argparse.Namespace) -> bool:
    """Whether this is ``-halt`` or ``-resume``, which stand alone (else exit 2 naming why)."""
    control = [f for f, on in (("-halt", args.halt is not None), ("-resume", args.resume)) if on]
    if not control:
        return False
    others = [
        f"-{dest.removesuffix('_mode').replace('_', '-')}"
        for dest in _given(args)
        if dest not in {"halt", "resume", "env_file"}
    ]
    if len(control) > 1 or others:
        parser.error(
            f"{control[0]} is a command of its own; not with {', '.join(control[1:] + others)}"
        )
    if args.halt is not None and not args.halt.strip():
        parser.error("-halt needs a reason (what went wrong), not an empty one")
    return True


def _check_spreads(parser: argparse.ArgumentParser, args: argparse.Namespace) -> bool:
    """Whether this is ``-spreads``, which takes ``-since`` only (else exit 2 naming why)."""
    if not args.spreads:
        return False
    others = [
        f"-{dest.removesuffix('_mode').replace('_', '-')}"
        for dest in _given(args)
        if dest not in {"spreads", "since", "env_file"}
    ]
    if others:
        parser.error(f"-spreads takes -since only; not {', '.join(others)}")
    return True


def _check_combination(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse flags that do not belong together, naming them (``parser.error``: exit 2)."""
    if _check_control(parser, args) or _check_spreads(parser, args):
        return
    if args.report and args.snapshot:
        parser.error("-report and -snapshot are separate commands; give one")
    if args.report:
        if args.all or args.account is None:
            parser.error("-report needs -account ID (one account)")
        if args.exec_mode is not None:
            parser.error("-exec does not apply to -report")
        return
    for dest, flag, commands in _REPORT_ONLY:
        if getattr(args, dest) is not None:
            parser.error(f"{flag} applies to {commands} only")
    if args.snapshot and args.exec_mode is not None:
        parser.error("-exec does not apply to -snapshot (a snapshot places nothing)")
    if bool(args.all) == (args.account is not None):
        parser.error("give one of -account ID or -all")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser, known = _parser()
    words = sys.argv[1:] if argv is None else argv
    refuse_unknown(parser, words, set(known))
    args = parser.parse_args(words)
    _check_combination(parser, args)
    return args


def _control(args: argparse.Namespace) -> int:
    """``-halt REASON`` / ``-resume``: the kill switch (needs the settings only)."""
    try:
        settings = load_settings(
            env_file=args.env_file or Path(".env"), env_file_required=args.env_file is not None
        )
        configure_logging(settings.log_level)
        if args.halt is not None:
            state = asyncio.run(halt_trading(settings, args.halt))
            print(state.describe())
            return EXIT_OK
        lifted = asyncio.run(resume_trading(settings))
    except (InvalidInputError, ValueError, OSError, sqlite3.Error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"Trading resumed (was {lifted.describe()})" if lifted else "Trading was not halted.")
    return EXIT_OK


async def run_manual(
    config: AppConfig, accounts: tuple[AccountConfig, ...], mode: RunMode
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
    mode: RunMode,
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


def _accounts(args: argparse.Namespace, config: AppConfig) -> tuple[AccountConfig, ...]:
    if not args.all:
        return (config.account(args.account),)
    accounts = config.tradable_accounts()
    if not accounts:
        raise InvalidInputError(
            f"no enabled {config.settings.trading_mode} account to run",
            str(config.settings.accounts_file),
        )
    return accounts


def _report(args: argparse.Namespace, config: AppConfig) -> int:
    """``-report``: the account's performance from the journal (no broker, no worker)."""
    # Imported here: the analytics (numpy) and rich are for reports only.
    from app.reporting import account_report
    from app.reporting.render import print_report

    account_id: str = args.account
    settings = config.settings
    with Journal(settings.data_dir / JOURNAL_FILE) as journal:
        known = any(a.account_id == account_id for a in config.accounts)
        if not known and not journal.recent_runs(account_id, limit=1):
            configured = ", ".join(a.account_id for a in config.accounts) or "none"
            raise InvalidInputError(
                f"-account {account_id!r} is not configured and has no runs in the journal "
                f"(configured: {configured})",
                str(settings.accounts_file),
            )
        report = account_report(journal, account_id, since=args.since)
    if args.format == "json":
        print(report.model_dump_json(indent=2))
    else:
        print_report(report)
    if args.plot is not None:
        from app.reporting.plot import write_equity_plot

        try:
            write_equity_plot(report, args.plot)
        except OSError as exc:
            raise InvalidInputError(f"cannot write -plot {args.plot}: {exc}") from None
        print(f"Equity curve written to {args.plot}", file=sys.stderr)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m app.cli``."""
    given = sys.argv[1:] if argv is None else argv
    if BACKTEST_FLAGS.intersection(given):
        # Backtests need no daemon settings, broker or worker: their own module and flags.
        return backtest_main(given)
    args = _parse_args(argv)
    if args.halt is not None or args.resume:
        return _control(args)
    try:
        config = load_app_config(
            env_file=args.env_file or Path(".env"), env_file_required=args.env_file is not None
        )
        configure_logging(config.settings.log_level, secrets=secrets_of(config))
        if args.report:
            return _report(args, config)
        if args.spreads:
            since = spreads_since(args.since, datetime.now(UTC))
            print(format_spreads(config.settings.data_dir / QUOTES_FILE, since))
            return EXIT_OK
        accounts = _accounts(args, config)
    except InvalidInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # The reader went away (``| head``): nothing is wrong with the report or the data.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (OSError, sqlite3.Error) as exc:
        print(f"error: cannot use DATA_DIR {config.settings.data_dir}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    mode: RunMode = "snapshot" if args.snapshot else (args.exec_mode or "print-rebalance")
    try:
        results = asyncio.run(run_manual(config, accounts, mode))
    except (OSError, sqlite3.Error, InvalidInputError) as exc:
        print(f"error: cannot use DATA_DIR {config.settings.data_dir}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(format_results(results))
    return EXIT_OK if all(r.success for r in results) else EXIT_RUN_FAILED


if __name__ == "__main__":
    sys.exit(main())
