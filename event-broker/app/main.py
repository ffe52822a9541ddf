"""The daemon: ``python -m app.main`` (and ``--check`` for the container HEALTHCHECK).

Listens on one realtime channel per strategy of the tradable accounts and runs every account
of a strategy when its signal arrives. Without ``REALTIME_API_KEY`` it runs for manual
triggers only (the CLI, the HTTP API) and says so. The HTTP API and dashboard
(``app.api``) run in the same event loop unless ``API_ENABLED=false``. Exit codes: 0 after
SIGTERM/SIGINT, 1 when the realtime connection fails for good (the container restarts it), 2
for a configuration error (the API's address cannot be listened on included).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sqlite3
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from broker_connector_base import InvalidInputError

from app.cli_flags import Once
from app.config.logs import configure_logging, secrets_of
from app.config.settings import AppConfig, load_app_config, load_settings
from app.intake.subscriber import AblyConnectionFailed, AblyService
from app.quotes.supervisor import QuoteRecorderSupervisor
from app.runtime import Runtime
from app.snapshots.schedule import SnapshotScheduler
from app.store.halt import read_halt
from app.store.status import AblyState, DaemonStatus, check_status, write_status

if TYPE_CHECKING:
    from app.api.server import ApiServer

__all__ = ["Daemon", "main", "package_versions"]

logger = logging.getLogger(__name__)

STATUS_INTERVAL_SECS = 5.0
STATUS_MAX_AGE_SECS = 30.0
"""``--check`` fails when the status file is older than this (six missed writes)."""

LOCAL_PACKAGES = (
    "broker-connector-base",
    "rebalance-calculator",
    "rebalance-engine",
    "ibkr-connector",
    "alpaca-connector",
)

EXIT_OK = 0
EXIT_REALTIME_FAILED = 1
EXIT_CONFIG = 2


def package_versions() -> dict[str, str]:
    """Installed versions of the local packages (``"not installed"`` when missing)."""
    versions: dict[str, str] = {}
    for name in LOCAL_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


class Daemon:
    """The running daemon: the object graph (``Runtime``), the realtime subscription, signal
    handlers and the status file for the health check.
    """

    def __init__(self, config: AppConfig, *, fork_server: bool = True) -> None:
        self.config = config
        self.runtime = Runtime(config, fork_server=fork_server)
        self.stopping = asyncio.Event()
        self.ably: AblyService | None = None
        self._ably_task: asyncio.Task[None] | None = None
        self._snapshots: SnapshotScheduler | None = None
        self._snapshot_task: asyncio.Task[None] | None = None
        self._quotes: QuoteRecorderSupervisor | None = None
        self._quotes_task: asyncio.Task[None] | None = None
        self.api: ApiServer | None = None
        # Until the subscription is up the health check must fail, unless there is none to wait
        # for (no key: manual triggers only).
        self._realtime_wanted = config.settings.realtime_api_key is not None
        self.started_at = time.time()

    @property
    def realtime_status(self) -> tuple[AblyState, float | None]:
        """The realtime link as the health check sees it, and since when it is down."""
        if not self._realtime_wanted:
            return "disabled", None
        if self.ably is None:
            return "connecting", self.started_at
        return self.ably.link.state, self.ably.link.down_since

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT or a permanent realtime failure; returns the exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._request_stop, sig)
        status_task = asyncio.create_task(self._status_loop())
        exit_code = EXIT_OK
        try:
            if await self._start_api():
                await self.runtime.start()
                self._start_snapshots()
                self._start_quote_recorder()
                exit_code = await self._serve()
            else:
                exit_code = EXIT_CONFIG
        finally:
            await self._shutdown()
            status_task.cancel()
            await asyncio.gather(status_task, return_exceptions=True)
            self._write_status(accepting=False)
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            self.runtime.close()
        logger.info("Daemon stopped (exit code %d)", exit_code)
        return exit_code

    async def _start_api(self) -> bool:
        """Serve the HTTP API and dashboard unless disabled; False when it cannot listen."""
        settings = self.config.settings
        if not settings.api_enabled:
            logger.info("HTTP API disabled (API_ENABLED=false)")
            return True
        # The web stack is imported only when the API is on (it costs memory).
        from app.api.app import create_app
        from app.api.server import ApiBindError, ApiServer

        app = create_app(self.runtime, realtime_state=lambda: self.realtime_status[0])
        self.api = ApiServer(app, host=settings.api_host, port=settings.api_port)
        try:
            await self.api.start()
        except ApiBindError as exc:
            logger.critical("%s; not starting", exc)
            self.api = None
            return False
        if settings.api_key is None:
            logger.warning(
                "API_KEY is not set: the HTTP API answers /api/v1/health only; set API_KEY "
                "to use the dashboard and the API"
            )
        return True

    async def _serve(self) -> int:
        settings = self.config.settings
        if settings.realtime_api_key is None:
            logger.warning(
                "REALTIME_API_KEY is not set: no realtime signals; manual triggers only "
                "(python -m app.cli, tools/rebalance.sh)"
            )
            await self.stopping.wait()
            return EXIT_OK
        if not self.config.channel_names():
            logger.warning("No tradable account: no channel to subscribe to; manual triggers only")
            self._realtime_wanted = False
            await self.stopping.wait()
            return EXIT_OK
        strategies = self.config.channel_names()
        self.ably = self.runtime.subscriber()
        logger.info(
            "Subscribing to %d strategy channels: %s", len(strategies), ", ".join(strategies)
        )
        try:
            await self.ably.start()
        except AblyConnectionFailed as exc:
            logger.critical("Realtime connection could not be established: %s; exiting", exc)
            self.ably = None
            return EXIT_REALTIME_FAILED
        self._write_status(accepting=True)  # "connected" now, not at the next tick
        ably_task = self._ably_task = asyncio.create_task(self.ably.run())
        stop_task = asyncio.create_task(self.stopping.wait())
        await asyncio.wait({ably_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        stop_task.cancel()
        await asyncio.gather(stop_task, return_exceptions=True)
        if not ably_task.done():
            return EXIT_OK
        try:
            ably_task.result()
        except AblyConnectionFailed as exc:
            logger.critical("Realtime connection failed for good: %s; exiting", exc)
            return EXIT_REALTIME_FAILED
        logger.error("Realtime subscription ended unexpectedly; exiting")
        return EXIT_REALTIME_FAILED

    def _start_snapshots(self) -> None:
        scheduler = self._snapshots = self.runtime.snapshot_scheduler()
        if scheduler is None:
            logger.info("Daily snapshots are off (SNAPSHOTS_ENABLED=false)")
            return
        self._snapshot_task = asyncio.create_task(scheduler.run(), name="daily-snapshots")

    def _start_quote_recorder(self) -> None:
        recorder = self._quotes = self.runtime.quote_recorder()
        if recorder is not None:
            self._quotes_task = asyncio.create_task(recorder.run(), name="quote-recorder")

    async def _shutdown(self) -> None:
        logger.info(
            "Shutting down: no new events; %d account runs active",
            self.runtime.strategies.active_runs,
        )
        if self._snapshot_task is not None:
            # A snapshot under way goes on: its runs get the grace below, like any other run.
            self._snapshot_task.cancel()
            await asyncio.gather(self._snapshot_task, return_exceptions=True)
        if self._quotes is not None and self._quotes_task is not None:
            await self._quotes.stop()  # its buffered ticks are written first
            await asyncio.gather(self._quotes_task, return_exceptions=True)
        if self._ably_task is not None and not self._ably_task.done():
            self._ably_task.cancel()
            await asyncio.gather(self._ably_task, return_exceptions=True)
        if self.ably is not None:
            await self.ably.close()
        # Runs started through the API finish within the grace like any other (their callers
        # get their answers); the API stops taking requests after that.
        await self.runtime.stop(self.config.settings.shutdown_grace_secs)
        if self._snapshots is not None:
            await self._snapshots.finish()
        if self.api is not None:
            await self.api.stop()

    def _request_stop(self, sig: signal.Signals) -> None:
        logger.info("Received %s; stopping", sig.name)
        self.stopping.set()

    async def _status_loop(self) -> None:
        while True:
            self._write_status(accepting=not self.stopping.is_set())
            await asyncio.sleep(STATUS_INTERVAL_SECS)

    def _write_status(self, *, accepting: bool) -> None:
        realtime, down_since = self.realtime_status
        try:
            write_status(
                self.config.settings.data_dir,
                DaemonStatus(
                    pid=os.getpid(),
                    updated_at=time.time(),
                    started_at=self.started_at,
                    ably=realtime,
                    ably_down_since=down_since,
                    active_runs=self.runtime.strategies.active_runs,
                    accepting=accepting and self.runtime.strategies.accepting,
                    accounts_not_served=[e.label for e in self.config.invalid_accounts],
                ),
            )
        except OSError as exc:
            logger.error("Cannot write the status file: %s", exc)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    # Flags spelled out (allow_abbrev=False: every flag here is a long one) and given at most
    # once: with argparse's last-wins, `--env-file a --env-file b` would quietly drop `a`.
    parser = argparse.ArgumentParser(
        prog="python -m app.main", description=__doc__, allow_abbrev=False
    )
    parser.add_argument(
        "--check",
        action=Once,
        nargs=0,
        default=False,
        help="health check: exit 0 only when the daemon is up",
    )
    parser.add_argument(
        "--env-file", action=Once, type=Path, default=None, help="dotenv file (default .env)"
    )
    return parser.parse_args(argv)


def _health_check(env_file: Path | None) -> int:
    try:
        settings = load_settings(
            env_file=env_file or Path(".env"), env_file_required=env_file is not None
        )
    except InvalidInputError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    healthy, reason = check_status(settings.data_dir, max_age_secs=STATUS_MAX_AGE_SECS)
    halt = read_halt(settings.data_dir)
    if halt is not None:
        # Still healthy: a halt is the owner's decision, and a restart would not lift it.
        reason += f"; {halt.describe()}"
    print(("healthy: " if healthy else "unhealthy: ") + reason)
    return 0 if healthy else 1


def main(argv: list[str] | None = None, *, fork_server: bool = True) -> int:
    """Entry point of ``python -m app.main``.

    ``fork_server=False`` starts every worker as a new interpreter (what
    ``bench/signal_latency.py`` compares the fork server with).
    """
    args = _parse_args(argv)
    if args.check:
        return _health_check(args.env_file)
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    versions = ", ".join(f"{name} {version}" for name, version in package_versions().items())
    logger.info("Event broker starting (pid %d): %s", os.getpid(), versions)
    try:
        config = load_app_config(
            env_file=args.env_file or Path(".env"), env_file_required=args.env_file is not None
        )
    except InvalidInputError as exc:
        logger.critical("Configuration error, not starting:\n%s", exc)
        return EXIT_CONFIG
    configure_logging(config.settings.log_level, secrets=secrets_of(config))
    try:
        return asyncio.run(_run(config, fork_server=fork_server))
    except (OSError, sqlite3.Error, InvalidInputError) as exc:
        # DATA_DIR missing permissions, disk full, a corrupt or newer journal, unreadable
        # state of the previous version: say so in one line.
        logger.critical("Cannot use DATA_DIR %s: %s", config.settings.data_dir, exc)
        return EXIT_CONFIG


async def _run(config: AppConfig, *, fork_server: bool) -> int:
    return await Daemon(config, fork_server=fork_server).run()


if __name__ == "__main__":
    sys.exit(main())
