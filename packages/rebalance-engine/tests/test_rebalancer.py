"""``Rebalancer`` on the in-memory fake broker: what the engine adds beyond the conformance
suite (``test_conformance_fake.py``): the plan vocabulary in results, warnings drained from the
broker, the settle wait through the contract, the journal callback."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from broker_connector_base import (
    CalculateRebalanceResult,
    OrderSpec,
    OrderStatus,
    RebalanceResult,
    Trade,
)
from broker_connector_base.fake import FakeExchange, InMemoryBroker
from rebalance_engine import Rebalancer, StaticAllocationSource
from rebalance_engine.testing import ACCOUNT, account_config

pytestmark = pytest.mark.timeout(30)

WEIGHTS = {"SPY": "0.1", "AGG": "0.4", "QQQ": "0.3", "IEF": "0.2"}


def _rebalancer(broker: InMemoryBroker, **kwargs: Any) -> Rebalancer:
    source = kwargs.pop("source", None) or StaticAllocationSource({"etf-blend": WEIGHTS})
    kwargs.setdefault("fill_timeout_secs", 2.0)
    kwargs.setdefault("cancel_timeout_secs", 1.0)
    kwargs.setdefault("settle_timeout_secs", 1.0)
    return Rebalancer(broker, allocation_source=source, **kwargs)


async def test_preview_plan_lists_every_held_or_targeted_symbol_with_its_trade(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    preview = await _rebalancer(broker).calculate_rebalance(account_config())

    assert exchange.order_log == []
    lines = {line.symbol: line for line in preview.plan}
    assert sorted(lines) == ["AGG", "GLD", "IEF", "QQQ", "SPY", "TLT"]
    trades = {t.symbol: t for t in preview.proposed_trades}
    for symbol, line in lines.items():
        trade = trades.get(symbol)
        assert line.trade_quantity == (trade.quantity if trade else 0)
        assert line.trade_amount == (trade.quantity * trade.price if trade else 0)
    assert lines["TLT"].direction == "SELL"
    assert lines["TLT"].target_value == 0
    assert lines["AGG"].direction == "BUY"
    assert lines["AGG"].current_value == 0
    total = preview.current_value
    # Targets are the allocation of the value above the 1 % reserve, as fractions of V.
    assert lines["AGG"].target_value == Decimal("0.4") * total * Decimal("0.99")
    assert lines["AGG"].target_weight == Decimal("0.396")
    assert lines["SPY"].current_weight == lines["SPY"].current_value / total
    assert sum((line.target_weight for line in preview.plan), Decimal(0)) == Decimal("0.99")


async def test_preview_position_deltas_are_whole_share_changes_of_the_plan(
    broker: InMemoryBroker,
) -> None:
    preview = await _rebalancer(broker).calculate_rebalance(account_config())

    deltas = {d.symbol: d for d in preview.position_deltas}
    assert (deltas["TLT"].current_qty, deltas["TLT"].delta, deltas["TLT"].target_qty) == (
        Decimal(100),
        -100,
        Decimal(0),
    )
    assert deltas["TLT"].action == "sell_excess"
    assert "target 0: liquidated" in deltas["TLT"].message
    agg = deltas["AGG"]
    assert agg.action == "buy_more"
    assert agg.current_qty == 0
    assert agg.quantity == agg.delta
    assert agg.target_qty == agg.delta > 0
    assert [d.symbol for d in preview.position_deltas] == [p.symbol for p in preview.plan]


async def test_preview_and_run_results_survive_a_json_round_trip(
    broker: InMemoryBroker,
) -> None:
    rebalancer = _rebalancer(broker, run_id="run-json")
    preview = await rebalancer.calculate_rebalance(account_config())
    result = await rebalancer.rebalance_account(account_config())
    assert result.success, result.error

    assert CalculateRebalanceResult.model_validate_json(preview.model_dump_json()) == preview
    again = RebalanceResult.model_validate_json(result.model_dump_json())
    assert again == result
    assert again.position_deltas == result.position_deltas
    assert result.plan == preview.plan  # the run started from the plan the preview showed


async def test_run_plan_is_the_plan_after_cancelling_open_orders(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    preview = await _rebalancer(broker).calculate_rebalance(account_config())
    stale = await broker.place_order(
        ACCOUNT,
        "QQQ",
        1,
        order=OrderSpec(type="LIMIT", limit_price=Decimal("100.00")),
        order_ref="old-run",
    )
    result = await _rebalancer(broker).rebalance_account(account_config())
    assert result.success, result.error
    assert exchange.orders[stale.order_id].status is OrderStatus.CANCELLED
    assert [line.trade_quantity for line in result.plan] == [
        line.trade_quantity for line in preview.plan
    ]


class _WarningBroker(InMemoryBroker):
    """Collects a warning with every quote request, like IBKRClient's quote fallbacks."""

    def __init__(self, exchange: FakeExchange) -> None:
        super().__init__(exchange)
        self.collected: list[str] = ["left over from an earlier call"]

    async def get_multiple_market_prices(self, symbols: Any, *, use_cache: bool = False) -> Any:
        prices = await super().get_multiple_market_prices(symbols, use_cache=use_cache)
        self.collected.append(f"quotes for {len(prices)} symbols are delayed")
        return prices

    def take_warnings(self) -> list[str]:
        taken, self.collected = self.collected, []
        return taken


async def test_broker_warnings_of_this_call_only_reach_the_result(exchange: FakeExchange) -> None:
    broker = _WarningBroker(exchange)
    await broker.connect()

    preview = await _rebalancer(broker).calculate_rebalance(account_config())
    result = await _rebalancer(broker).rebalance_account(account_config())

    for warnings in (preview.warnings, result.warnings):
        assert any(w.endswith("symbols are delayed") for w in warnings), warnings
        assert "left over from an earlier call" not in warnings
    assert broker.collected == []


class _SlowPositions(InMemoryBroker):
    """Shows filled sells in positions only once ``wait_for_positions`` was asked."""

    def __init__(self, exchange: FakeExchange) -> None:
        super().__init__(exchange)
        self.waits: list[dict[str, Decimal]] = []

    async def wait_for_positions(
        self, account_id: str, expected: Any, *, timeout_secs: float
    ) -> dict[str, Decimal]:
        self.waits.append(dict(expected))
        return await super().wait_for_positions(account_id, expected, timeout_secs=timeout_secs)


async def test_run_waits_through_the_contract_for_positions_to_show_each_phase(
    exchange: FakeExchange,
) -> None:
    broker = _SlowPositions(exchange)
    await broker.connect()

    result = await _rebalancer(broker).rebalance_account(account_config())

    assert result.success, result.error
    sells = {t.symbol: t for t in result.orders if t.quantity < 0}
    first = broker.waits[0]
    assert set(first) == set(sells) == {"SPY", "TLT", "GLD"}
    assert first["TLT"] == 0
    assert first["SPY"] == 50 + sells["SPY"].quantity


async def test_journal_callback_sees_each_order_before_sending_acknowledged_then_final(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    seen: list[Trade] = []
    sent_when_journalled: list[int] = []

    def journal(trade: Trade) -> None:
        seen.append(trade)
        sent_when_journalled.append(len(exchange.order_log))

    result = await _rebalancer(broker, run_id="run-7", on_order=journal).rebalance_account(
        account_config()
    )
    assert result.success, result.error
    assert len(seen) == 3 * len(result.orders)
    perm_ids = {o.order_id: o.perm_id for o in exchange.order_log}
    placed = [o.order_id for o in exchange.order_log]
    for trade in result.orders:
        order_id = trade.order_id
        assert order_id is not None
        events = [e for e in seen if e.order_id == order_id]
        assert [e.status for e in events] == [OrderStatus.FILLED, OrderStatus.FILLED]
        assert events[1].filled_quantity == events[1].quantity
        # The broker's permanent id travels with the order (the journal keys on it).
        assert [e.perm_id for e in events] == [perm_ids[order_id]] * 2
        assert perm_ids[order_id] != order_id
        # The intent was journalled just before, when the broker did not have the order yet.
        intent = seen.index(events[0]) - 1
        assert (seen[intent].order_id, seen[intent].status) == (None, None)
        assert seen[intent].symbol == trade.symbol
        assert sent_when_journalled[intent] == placed.index(order_id)


async def test_journal_failing_before_an_order_stops_the_run_with_nothing_sent(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    def journal(trade: Trade) -> None:
        if trade.order_id is None and trade.quantity > 0:
            raise OSError("disk full")

    result = await _rebalancer(broker, on_order=journal).rebalance_account(account_config())

    assert result.success is False
    assert result.error is not None
    assert "not placed: recording it before sending failed (OSError: disk full)" in result.error
    assert [o.quantity < 0 for o in exchange.order_log] == [True] * len(exchange.order_log)
    assert exchange.order_log  # the sells went out; no buy did


async def test_run_result_carries_the_final_snapshot_its_totals_come_from(
    broker: InMemoryBroker,
) -> None:
    result = await _rebalancer(broker).rebalance_account(account_config())
    assert result.success, result.error

    final = result.final_snapshot
    assert final is not None
    assert (final.total_value, final.cash_balance) == (result.total_value, result.cash_balance)
    after = await broker.get_account_snapshot(ACCOUNT, use_cached_prices=True)
    assert {p.symbol: p.quantity for p in final.positions} == {
        p.symbol: p.quantity for p in after.positions
    }
    assert {p.symbol for p in final.positions} == {"SPY", "AGG", "QQQ", "IEF"}


async def test_run_of_an_account_on_target_reads_it_once_and_ends_on_that_snapshot(
    broker: InMemoryBroker,
) -> None:
    first = await _rebalancer(broker).rebalance_account(account_config())
    assert first.success, first.error
    broker.calls.clear()

    again = await _rebalancer(broker).rebalance_account(account_config())

    assert again.success, again.error
    assert again.orders == []
    # The first plan has nothing to do: no second plan, no final read (each one is a
    # request against the broker's rate limit).
    assert broker.calls["get_account_snapshot"] == 1
    assert again.final_snapshot is not None
    assert first.final_snapshot is not None
    assert {p.symbol: p.quantity for p in again.final_snapshot.positions} == {
        p.symbol: p.quantity for p in first.final_snapshot.positions
    }


async def test_run_of_a_strategy_the_source_does_not_know_fails_naming_it_and_places_nothing(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    config = account_config(
        strategies=[{"name": "etf-blend", "weight": "0.5"}, {"name": "gone", "weight": "0.5"}]
    )
    result = await _rebalancer(broker).rebalance_account(config)
    assert result.success is False
    assert result.error is not None
    assert "no allocations for strategy 'gone'" in result.error
    assert exchange.order_log == []
