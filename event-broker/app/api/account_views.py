"""Accounts as the API shows them: configuration, last known value, drift, last run.

Positions, targets and drift come from the account's newest **successful preview** in the
journal (a ``print-rebalance`` run: a signal's, the CLI's or ``POST .../calculate``; not one
with allocations given in the request); nothing here asks the broker. ``PreviewInfo`` says
which run that was, when it ended, how old it is, and whether a rebalance succeeded after it
(``stale``). The value and cash shown are those of the newest successful run of either kind.

Built views are cached until the journal changes (``JournalReader.data_version``) or a run
starts or ends in this daemon, so a dashboard polling every few seconds costs one cheap
query per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from broker_connector_base import AccountConfig

from app.api.models import AccountDetail, AccountSummary, PreviewInfo
from app.api.views import drift_of, holdings_of, parse_result, plan_source, run_summary
from app.models import AccountExecutionResult
from app.runtime import Runtime
from app.store.queries import RunRow

__all__ = ["AccountViews"]


@dataclass(frozen=True)
class _Built:
    detail: AccountDetail
    preview_finished: datetime | None


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

    def detail(self, account: AccountConfig) -> AccountDetail:
        """The account with holdings, drift, preview age (now) and last run."""
        self._valid_key()
        built = self._built.get(account.account_id)
        if built is None:
            built = self._build(account)
            self._built[account.account_id] = built
        detail = built.detail
        if detail.preview is not None and built.preview_finished is not None:
            age = (datetime.now(UTC) - built.preview_finished).total_seconds()
            preview = detail.preview.model_copy(update={"age_secs": round(max(age, 0.0), 1)})
            detail = detail.model_copy(update={"preview": preview})
        return detail

    def summary(self, account: AccountConfig) -> AccountSummary:
        """The account without its holdings."""
        detail = self.detail(account)
        return AccountSummary.model_validate(
            detail.model_dump(exclude={"holdings", "warnings"}, round_trip=True)
        )

    def _build(self, account: AccountConfig) -> _Built:
        reader = self.runtime.reader
        account_id = account.account_id
        preview_row = reader.latest_strategy_preview(account_id)
        last_ok = reader.latest_run(account_id, status="succeeded")
        last = reader.latest_run(account_id)
        preview = None
        if preview_row is not None:
            preview = parse_result(reader.result_json(preview_row.run_id))
        holdings = holdings_of(preview) if preview is not None else []
        info, finished = self._preview_info(preview_row, last_ok, preview)
        detail = AccountDetail(
            account_id=account_id,
            strategy_name=account.strategy_name,
            broker=account.broker,
            type=account.type,
            enabled=account.enabled,
            tradable=account in self.runtime.config.tradable_accounts(),
            pdt_protection_enabled=account.pdt_protection_enabled,
            total_value=None if last_ok is None else _money(last_ok.total_value),
            cash_balance=None if last_ok is None else _money(last_ok.cash_balance),
            drift=drift_of(holdings) if preview is not None else None,
            preview=info,
            last_run=None if last is None else run_summary(last),
            running_run_id=self.runtime.executor.running_accounts.get(account_id),
            holdings=holdings,
            warnings=list(preview.warnings) if preview is not None else [],
        )
        return _Built(detail, finished)

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


def _money(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)
