"""Journal rows and run results turned into the API's response models (pure functions)."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, cast

from broker_connector_base import StrategyAttribution

from app.api.models import (
    DriftSummary,
    EventView,
    Holding,
    OrderView,
    ProposedTrade,
    RunDetail,
    RunSummary,
    StrategyShares,
)
from app.models import AccountExecutionResult, RebalancePlan, RunMode
from app.reporting.report import drift_of as snapshot_drift
from app.snapshots.model import PortfolioSnapshot
from app.store.journal import JournalOrder
from app.store.queries import EventRow, RunRow, source_of_channel

__all__ = [
    "drift_of",
    "event_view",
    "holdings_of",
    "order_view",
    "plan_source",
    "run_detail",
    "run_summary",
    "snapshot_holdings",
]

_WEIGHT = Decimal("0.000001")


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _shares(attribution: StrategyAttribution | None) -> StrategyShares | None:
    return None if attribution is None else dict(sorted(attribution.shares.items()))


def _duration(started: str, finished: str | None) -> float | None:
    if finished is None:
        return None
    span = datetime.fromisoformat(finished) - datetime.fromisoformat(started)
    return round(span.total_seconds(), 3)


def run_summary(row: RunRow) -> RunSummary:
    """A run as listed."""
    return RunSummary(
        run_id=row.run_id,
        account_id=row.account_id,
        mode=cast("RunMode", row.mode),  # the journal's CHECK allows only these
        status=row.status or "running",
        source=row.source,
        channel=row.channel,
        started_at=datetime.fromisoformat(row.started_at),
        finished_at=None if row.finished_at is None else datetime.fromisoformat(row.finished_at),
        duration_secs=_duration(row.started_at, row.finished_at),
        total_value=_decimal(row.total_value),
        cash_balance=_decimal(row.cash_balance),
        error=row.error,
        order_count=row.order_count,
    )


def order_view(order: JournalOrder) -> OrderView:
    """A journalled order, quantities unsigned (``side`` says which way)."""
    return OrderView(
        order_id=order.order_id,
        symbol=order.symbol,
        side=cast("Literal['BUY', 'SELL']", order.side),  # the journal's CHECK allows only these
        quantity=abs(order.quantity),
        price=Decimal(order.price),
        status=order.status,
        filled_quantity=None if order.filled_quantity is None else abs(order.filled_quantity),
        avg_fill_price=_decimal(order.avg_fill_price),
        recorded_at=datetime.fromisoformat(order.recorded_at),
        updated_at=datetime.fromisoformat(order.updated_at),
        strategies=_shares(order.attribution),
    )


def _proposed(result: AccountExecutionResult | None) -> list[ProposedTrade]:
    if result is None or result.mode != "print-rebalance":
        return []
    return [
        ProposedTrade(
            symbol=t.symbol,
            side=t.action,
            quantity=abs(t.quantity),
            price=t.price,
            current_value=t.current_value,
            target_value=t.target_value,
            estimated_value=t.notional,
            strategies=_shares(t.attribution),
        )
        for t in result.trades
    ]


def run_detail(
    row: RunRow, orders: list[JournalOrder], result: AccountExecutionResult | None
) -> RunDetail:
    """A run with its orders, proposed trades (previews) and warnings."""
    summary = run_summary(row)
    warnings: list[str] = json.loads(row.warnings) if row.warnings else []
    return RunDetail(
        **summary.model_dump(),
        orders=[order_view(o) for o in orders],
        proposed_trades=_proposed(result),
        warnings=warnings,
        execution=result.execution if result is not None else None,
    )


def _weight(value: Decimal, total: Decimal) -> Decimal:
    return (value / total).quantize(_WEIGHT) if total > 0 else Decimal(0)


def holdings_of(result: AccountExecutionResult) -> list[Holding]:
    """Every symbol held or targeted (the result's plan), with weights, drift and trade.

    A result journalled before plans were recorded has only its trades: then only the traded
    symbols are listed (``plan_source`` says which).
    """
    if result.plan:
        return sorted((_plan_holding(line) for line in result.plan), key=lambda h: h.symbol)
    total = result.total_value or Decimal(0)
    holdings = []
    for trade in result.trades:
        current = _weight(trade.current_value, total)
        target = _weight(trade.target_value, total)
        holdings.append(
            Holding(
                symbol=trade.symbol,
                current_value=trade.current_value,
                current_weight=current,
                target_value=trade.target_value,
                target_weight=target,
                drift=current - target,
                trade_quantity=trade.quantity,
                trade_value=trade.quantity * trade.price,
                direction=trade.action,
                strategies=_shares(trade.attribution),
            )
        )
    return sorted(holdings, key=lambda h: h.symbol)


def _plan_holding(line: RebalancePlan) -> Holding:
    current = line.current_weight.quantize(_WEIGHT)
    target = line.target_weight.quantize(_WEIGHT)
    return Holding(
        symbol=line.symbol,
        current_value=line.current_value,
        current_weight=current,
        target_value=line.target_value,
        target_weight=target,
        drift=current - target,
        trade_quantity=line.trade_quantity,
        trade_value=line.trade_amount,
        direction=line.direction,
        strategies=_shares(line.attribution),
    )


def snapshot_holdings(snapshot: PortfolioSnapshot) -> list[Holding]:
    """Every symbol of ``snapshot`` held or targeted, against the targets stored with it."""
    return [
        Holding(
            symbol=line.symbol,
            current_value=line.value,
            current_weight=line.weight,
            target_value=line.target_value,
            target_weight=line.target_weight,
            drift=line.drift,
            trade_quantity=0,
            trade_value=Decimal(0),
            direction="HOLD",
        )
        for line in snapshot_drift(snapshot).lines
    ]


def plan_source(result: AccountExecutionResult) -> Literal["plan", "trades"]:
    """``plan`` when the result lists every held or targeted symbol, else ``trades``."""
    return "plan" if result.plan else "trades"


def drift_of(holdings: list[Holding]) -> DriftSummary | None:
    """Largest single drift and half the sum of absolute drifts; ``None`` when the targets
    are not known (a snapshot that could not read them)."""
    if any(h.drift is None for h in holdings):
        return None
    drifts = [abs(h.drift) for h in holdings if h.drift is not None]
    return DriftSummary(
        max_abs=max(drifts, default=Decimal(0)),
        total=(sum(drifts, Decimal(0)) / 2).quantize(_WEIGHT),
    )


def event_view(row: EventRow, *, payload_limit: int = 2000) -> EventView:
    """A journalled event; long payloads are cut to ``payload_limit`` characters."""
    payload = row.payload if len(row.payload) <= payload_limit else row.payload[:payload_limit]
    return EventView(
        id=row.id,
        event_id=row.event_id,
        channel=row.channel,
        source=source_of_channel(row.channel),
        received_at=datetime.fromisoformat(row.received_at),
        outcome=row.outcome,
        payload=payload,
    )


def parse_result(text: str | None) -> AccountExecutionResult | None:
    """A journalled result document, or ``None`` (none yet, or unreadable)."""
    if not text:
        return None
    try:
        return AccountExecutionResult.model_validate_json(text)
    except ValueError:
        return None


def jsonable(value: Any) -> Any:
    """``value`` with decimals as strings (for SSE payloads built outside the models)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
