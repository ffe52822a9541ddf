"""Accounts as the API shows them: configuration, last known value, drift, last run.

Positions, targets and drift come from whichever is newer of the account's newest
**successful preview** in the journal (a ``print-rebalance`` run: a signal's, the CLI's or
``POST .../calculate``; not one with allocations given in the request), which also lists the
trades it proposed, and its latest **portfolio snapshot** (daily, after every executed
rebalance, or on demand), whose positions are compared with the targets stored with it.
``holdings_source`` says which; nothing here asks the broker. ``PreviewInfo`` says which run
the preview was, when it ended, how old it is, and whether a rebalance succeeded after it
(``stale``). The value and cash shown are those of the newest successful run of any kind.

Built views are cached until the journal changes (``JournalReader.data_version``) or a run
starts or ends in this daemon, so a dashboard polling every few seconds costs one cheap
query per request. Everything here runs on the event loop's thread (the reader's
connection of that thread).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from broker_connector_base import AccountConfig, InvalidInputError

from app.api.models import (
    AccountDetail,
    AccountSummary,
    Holding,
    HoldingsSource,
    PreviewInfo,
    SnapshotInfo,
    StrategyWeightView,
)
from app.api.views import (
    drift_of,
    holdings_of,
    parse_result,
    plan_source,
    run_summary,
    snapshot_holdings,
)
from app.models import AccountExecutionResult
from app.runtime import Runtime
from app.snapshots.model import PortfolioSnapshot
from app.store.queries import JournalReader, RunRow

__all__ = ["AccountViews"]

logger = logging.getLogger(__name__)


@dataclass
class _Built:
    detail: AccountDetail
    preview_finished: datetime | None
    snapshot_taken: datetime | None
    json: tuple[tuple[float | None, float | None], bytes] | None = None
    """The detail's JSON and the ages (0.1 s steps) it was rendered with."""


def _age(since: datetime) -> float:
    return round(max((datetime.now(UTC) - since).total_seconds(), 0.0), 1)


class AccountViews:
    """Builds and caches ``AccountDetail`` per account.

    Args:
        runtime: The daemon's runtime (configuration, journal reader, executor).
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._key: tuple[int, tuple[tuple[str, str], ...]] | None = None
        self._built: dict[str, _Built] = {}

    def _valid_key(self) -> tuple[int, tuple[tuple[str, str], ...]]:
        running = tuple(sorted(self.runtime.executor.running_accounts.items()))
        key = (self.runtime.reader.data_version(), running)
        if key != self._key:
            self._key = key
            self._built.clear()
        return key

    def accounts(self) -> list[AccountConfig]:
        """Every configured account, in file order."""
        return list(self.runtime.config.accounts)

    def find(self, account_id: str) -> AccountConfig | None:
        """The configured account ``account_id``, or ``None``."""
        return next((a for a in self.runtime.config.accounts if a.account_id == account_id), None)

    def _current(self, account: AccountConfig) -> _Built:
        self._valid_key()
        built = self._built.get(account.account_id)
        if built is None:
            built = self._build(account)
            self._built[account.account_id] = built
        return built

    def detail(self, account: AccountConfig) -> AccountDetail:
        """The account with holdings, drift, preview and snapshot ages (now) and last run."""
        built = self._current(account)
        return _with_ages(built, *_ages(built))

    def detail_json(self, account: AccountConfig) -> bytes:
        """``detail`` as JSON; rendered again only when the journal or an age changed."""
        built = self._current(account)
        ages = _ages(built)
        if built.json is None or built.json[0] != ages:
            built.json = (ages, _with_ages(built, *ages).model_dump_json().encode())
        return built.json[1]

    def summary(self, account: AccountConfig) -> AccountSummary:
        """The account without its holdings."""
        detail = self.detail(account)
        return AccountSummary.model_validate(
            detail.model_dump(exclude={"holdings", "warnings"}, round_trip=True)
        )

    def _build(self, account: AccountConfig) -> _Built:
        reader = self.runtime.reader
        account_id = account.account_id
        with reader.read_transaction():
            preview_row = reader.latest_strategy_preview(account_id)
            last_ok = reader.latest_run(account_id, status="succeeded")
            last = reader.latest_run(account_id)
            preview = None
            if preview_row is not None:
                preview = parse_result(reader.result_json(preview_row.run_id))
            snapshot, unreadable = _latest_snapshot(reader, account_id)
            snapshot_run = reader.snapshot_run_id(account_id)
        info, finished = self._preview_info(preview_row, last_ok, preview)
        source, holdings = _holdings(preview, finished, snapshot)
        detail = AccountDetail(
            account_id=account_id,
            strategy_name=account.strategy_name,
            strategies=[
                StrategyWeightView(name=s.name, weight=s.weight) for s in account.strategies
            ],
            broker=account.broker,
            type=account.type,
            enabled=account.enabled,
            tradable=account in self.runtime.config.tradable_accounts(),
            pdt_protection_enabled=account.pdt_protection_enabled,
            total_value=None if last_ok is None else _money(last_ok.total_value),
            cash_balance=None if last_ok is None else _money(last_ok.cash_balance),
            drift=drift_of(holdings) if source is not None else None,
            holdings_source=source,
            preview=info,
            snapshot=_snapshot_info(snapshot, snapshot_run),
            last_run=None if last is None else run_summary(last),
            running_run_id=self.runtime.executor.running_accounts.get(account_id),
            holdings=holdings,
            warnings=[
                *(preview.warnings if source == "preview" and preview else []),
                *unreadable,
            ],
        )
        return _Built(detail, finished, None if snapshot is None else snapshot.taken_at)

    @staticmethod
    def _preview_info(
        preview: RunRow | None, last_ok: RunRow | None, result: AccountExecutionResult | None
    ) -> tuple[PreviewInfo | None, datetime | None]:
        if preview is None or preview.finished_at is None or result is None:
            return None, None
        finished = datetime.fromisoformat(preview.finished_at)
        stale = (
            last_ok is not None
            and last_ok.mode == "rebalance"
            and last_ok.started_at > preview.started_at
        )
        info = PreviewInfo(
            run_id=preview.run_id,
            source=preview.source,
            finished_at=finished,
            age_secs=0.0,
            stale=stale,
            plan_source=plan_source(result),
        )
        return info, finished


def _ages(built: _Built) -> tuple[float | None, float | None]:
    """The preview's and the snapshot's age now (0.1 s steps), ``None`` without one."""
    preview = None if built.preview_finished is None else _age(built.preview_finished)
    snapshot = None if built.snapshot_taken is None else _age(built.snapshot_taken)
    return preview, snapshot


def _with_ages(
    built: _Built, preview_age: float | None, snapshot_age: float | None
) -> AccountDetail:
    detail = built.detail
    update: dict[str, object] = {}
    if detail.preview is not None and preview_age is not None:
        update["preview"] = detail.preview.model_copy(update={"age_secs": preview_age})
    if detail.snapshot is not None and snapshot_age is not None:
        update["snapshot"] = detail.snapshot.model_copy(update={"age_secs": snapshot_age})
    return detail.model_copy(update=update) if update else detail


def _holdings(
    preview: AccountExecutionResult | None,
    preview_finished: datetime | None,
    snapshot: PortfolioSnapshot | None,
) -> tuple[HoldingsSource | None, list[Holding]]:
    """The newer of the preview and the snapshot: its name and its holdings."""
    use_snapshot = snapshot is not None and (
        preview is None or preview_finished is None or snapshot.taken_at > preview_finished
    )
    if snapshot is not None and use_snapshot:
        return "snapshot", snapshot_holdings(snapshot)
    if preview is not None:
        return "preview", holdings_of(preview)
    return None, []


def _latest_snapshot(
    reader: JournalReader, account_id: str
) -> tuple[PortfolioSnapshot | None, list[str]]:
    """The latest snapshot; one the journal holds unreadable values for is left out, said."""
    try:
        return reader.latest_snapshot(account_id), []
    except InvalidInputError as exc:
        logger.warning("Account %s: latest snapshot left out: %s", account_id, exc.message)
        return None, [f"the latest snapshot is left out: {exc.message}"]


def _snapshot_info(snapshot: PortfolioSnapshot | None, run_id: str | None) -> SnapshotInfo | None:
    if snapshot is None or run_id is None:
        return None
    return SnapshotInfo(
        run_id=run_id,
        taken_at=snapshot.taken_at,
        age_secs=0.0,
        total_value=snapshot.total_value,
        targets_known=snapshot.targets is not None,
    )


def _money(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)
