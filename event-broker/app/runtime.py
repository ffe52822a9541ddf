"""The daemon's object graph, wired in one place for every entry point.

``Runtime(config)`` builds, in order: the journal (also the one de-duplication store; the
previous version's seen message ids are imported into it first) and its reader, the PDT
state, the notifier, the run feed (live progress for the HTTP API), the worker pool and its
launcher, the trading executor, the strategy executor and the event processor;
``subscriber()`` adds the realtime subscriber on top, ``snapshot_scheduler()`` the daily
snapshots, ``quote_recorder()`` the quote recorder's supervisor. ``start()``, ``stop()`` and
``close()`` own what happens around them. The daemon (``app.main``, which also serves the
HTTP API over this graph), the CLI (``app.cli``, which ``make demo`` runs) and the tests use
this graph, so none wires its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from broker_connector_base import InvalidInputError

from app.config.settings import AppConfig
from app.intake.catch_up import CatchUp
from app.intake.events import EventProcessor
from app.intake.history import HistoryReader
from app.intake.subscriber import AblyService
from app.models import AccountExecutionResult
from app.notify.notifier import NotificationService
from app.quotes.request import build_recorder_request
from app.quotes.supervisor import QuoteRecorderSupervisor, RegularHours
from app.runs.account import TradingExecutor
from app.runs.breaker import GatewayBreaker
from app.runs.feed import RunFeed
from app.runs.pdt import PDTProtectionService
from app.runs.recovery import report_unfinished_runs
from app.runs.snapshots import DailySnapshots
from app.runs.strategy import StrategyExecutor
from app.snapshots.schedule import DailySchedule, NyseCalendar, SnapshotScheduler
from app.store.files import JOURNAL_FILE
from app.store.halt import halt_banner
from app.store.journal import Journal
from app.store.legacy import import_legacy_pdt_state, import_legacy_seen_ids
from app.store.queries import JournalReader
from app.trading.connections import SUPPORTED_BROKERS
from app.workers.fork_launcher import ForkServerLauncher
from app.workers.pool import WorkerPool, WorkerProcesses

__all__ = ["Runtime"]

logger = logging.getLogger(__name__)


class Runtime:
    """Everything a run needs, built from the configuration, and its start and stop.

    Args:
        config: The loaded configuration.
        fork_server: Start workers as forks of a pre-started fork server (imports paid once)
            rather than as new interpreters.
        workers: A worker pool to use instead of the one ``fork_server`` chooses (tests).
        notifier: A notifier to use instead of one for ``NOTIFICATION_URLS`` (tests).
        lock_wait_secs: How long a run waits for a busy account lock (default: one run
            timeout plus a margin).

    Raises:
        InvalidInputError: The journal is from a newer version, or the previous version's
            seen message ids cannot be read.
        OSError, sqlite3.Error: ``DATA_DIR`` cannot be used.
    """

    def __init__(
        self,
        config: AppConfig,
        *,
        fork_server: bool = True,
        workers: WorkerPool | None = None,
        notifier: NotificationService | None = None,
        lock_wait_secs: float | None = None,
    ) -> None:
        settings = config.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.journal = Journal(settings.data_dir / JOURNAL_FILE)
        try:
            import_legacy_seen_ids(self.journal, settings.data_dir)
            import_legacy_pdt_state(self.journal, settings.data_dir)
            self.reader = JournalReader(self.journal.path)
        except BaseException:
            self.journal.close()
            raise
        self.feed = RunFeed(self.reader)
        self.pdt = PDTProtectionService(self.journal)
        self.notifier = notifier or NotificationService(
            settings.notification_urls, banner=lambda: halt_banner(settings.data_dir)
        )
        # Forked workers skip the interpreter start and the broker library imports (about
        # 0.6 s of CPU per account) for about 60 MB of idle fork server per broker in use.
        # (An account of an unsupported broker is refused at its run, without a worker.)
        brokers = {a.broker for a in config.tradable_accounts()} & SUPPORTED_BROKERS
        launcher = ForkServerLauncher(brokers=brokers) if fork_server else None
        self.workers: WorkerPool = workers or WorkerProcesses(launcher=launcher)
        self.breaker = GatewayBreaker(
            failures=settings.gateway_breaker_failures,
            cooldown_secs=settings.gateway_breaker_cooldown_secs,
            notify=lambda title, body: self.notifier.notify(
                title=title, body=body, level="failure"
            ),
        )
        self.executor = TradingExecutor(
            config,
            journal=self.journal,
            pdt=self.pdt,
            notifier=self.notifier,
            workers=self.workers,
            lock_wait_secs=lock_wait_secs,
            listeners=(self.feed,),
            breaker=self.breaker,
        )
        self._stopping = asyncio.Event()
        self._background: asyncio.Task[None] | None = None
        self.strategies = StrategyExecutor(
            self.executor, max_parallel=settings.max_parallel_accounts
        )
        self.events = EventProcessor(self.journal, self.strategies)

    def subscriber(self) -> AblyService:
        """The realtime subscriber: one channel per strategy of the tradable accounts.

        After every gap in the subscription it reads back from Ably's history what the
        channels received meanwhile (``app.intake.catch_up``), starting where the journal's
        newest event of the channel was published.

        Raises:
            InvalidInputError: ``REALTIME_API_KEY`` is not set, or no account is tradable.
        """
        settings = self.config.settings
        channels = self.config.channel_names()
        if settings.realtime_api_key is None or not channels:
            raise InvalidInputError(
                "a realtime subscription needs REALTIME_API_KEY and a tradable account"
            )
        history = HistoryReader(
            api_key=settings.realtime_api_key,
            endpoint=settings.ably_endpoint,
            tls=settings.ably_tls,
        )
        return AblyService(
            api_key=settings.realtime_api_key,
            channels=channels,
            on_message=self.events.on_message,
            catch_up=CatchUp(history, self.journal, max_age_secs=settings.event_max_age_secs),
            endpoint=settings.ably_endpoint,
            tls=settings.ably_tls,
            max_message_age_secs=settings.event_max_age_secs,
        )

    def snapshot_scheduler(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], Awaitable[object]] | None = None,
    ) -> SnapshotScheduler | None:
        """The daily snapshot of every tradable account, or ``None`` when
        ``SNAPSHOTS_ENABLED`` is false. ``clock`` and ``sleep`` replace the real ones (tests).
        """
        settings = self.config.settings
        if not settings.snapshots_enabled:
            return None
        schedule = DailySchedule(settings.snapshot_time, NyseCalendar())
        job = DailySnapshots(self.config, self.strategies, self.journal)
        return SnapshotScheduler(schedule, job, clock=clock, sleep=sleep)

    def quote_recorder(self) -> QuoteRecorderSupervisor | None:
        """The quote recorder's supervisor, or ``None`` when ``QUOTE_RECORDER_ENABLED`` is
        false or no tradable account trades at IB."""
        request = build_recorder_request(self.config)
        if request is None:
            return None
        return QuoteRecorderSupervisor(request, RegularHours(NyseCalendar()))

    async def start(self, *, report_unfinished: bool = True) -> None:
        """Start the worker helpers; then (the daemon, ``report_unfinished``) reconcile and
        report runs a previous process left unfinished, report accounts not served, and start
        the background reconciliation: other accounts with unresolved orders, then the
        position checks (``app.runs.reconciler``)."""
        await self.workers.start_spares()
        if report_unfinished:
            await report_unfinished_runs(
                self.journal,
                self.notifier,
                self.config.settings.data_dir,
                reconcile=self._reconcile_account,
            )
            await self._report_not_served()
            self._background = asyncio.create_task(self._reconcile_in_background())

    async def _reconcile_account(self, account_id: str) -> AccountExecutionResult | None:
        account = next(
            (a for a in self.config.tradable_accounts() if a.account_id == account_id), None
        )
        if account is None:
            logger.error("Account %s is not tradable now: its orders stay unresolved", account_id)
            return None
        return await self.executor.reconciler.reconcile_locked(account)

    async def _reconcile_in_background(self) -> None:
        reconciler = self.executor.reconciler
        await reconciler.reconcile_all(reconciler.accounts_with_unresolved_orders(), "start-up")
        await reconciler.run_schedule(self._stopping)

    async def _report_not_served(self) -> None:
        """One notification listing the ``accounts.yaml`` entries that are not served."""
        broken = self.config.invalid_accounts
        if not broken:
            return
        body = "\n\n".join(str(entry.error()) for entry in broken)
        await self.notifier.notify(
            title=f"{len(broken)} account(s) in accounts.yaml not served until fixed",
            body=body + "\n\nThe other accounts are traded as usual.",
            level="failure",
        )

    async def stop(self, grace_secs: float) -> None:
        """Start no new run, give running ones ``grace_secs``, then terminate their workers.

        The worker helpers (the fork server) are stopped too; the journal stays open.
        """
        self._stopping.set()
        if self._background is not None:
            self._background.cancel()
            await asyncio.gather(self._background, return_exceptions=True)
        await self.strategies.shutdown(grace_secs)
        await self.events.wait_idle(grace_secs)
        await self.workers.terminate_all()
        await self.feed.close()
        await self.breaker.close()

    def close(self) -> None:
        """Close the journal and its reader (after ``stop``)."""
        self.reader.close()
        self.journal.close()
