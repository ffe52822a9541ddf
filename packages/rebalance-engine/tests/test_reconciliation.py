"""Reconciliation: journalled orders against broker records, positions against fills, and the
post-trade check at the end of a run on the fake broker."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from broker_connector_base import OrderRecord, OrderStatus, PositionDifference, Trade
from broker_connector_base.fake import FakeExchange, InMemoryBroker
from rebalance_engine import PositionReconciler, Rebalancer, StaticAllocationSource, resolve_orders
from rebalance_engine._records import RunRecord
from rebalance_engine.testing import ACCOUNT, account_config

pytestmark = pytest.mark.timeout(30)


def _trade(symbol: str, quantity: int, **fields: Any) -> Trade:
    return Trade(
        symbol=symbol,
        quantity=quantity,
        current_shares=Decimal(0),
        target_value=Decimal(0),
        current_value=Decimal(0),
        price=Decimal("10"),
        **fields,
    )


def _record(perm_id: str, symbol: str, quantity: int | None, **fields: Any) -> OrderRecord:
    return OrderRecord(perm_id=perm_id, symbol=symbol, quantity=quantity, **fields)


def test_resolve_matches_by_perm_id_not_by_a_reused_order_id() -> None:
    journalled = [_trade("SPY", -5, order_id="1", perm_id="900", status=OrderStatus.WORKING)]
    records = [
        # After a gateway restart another order of the same run got order id 1.
        _record("901", "SPY", -5, order_id="1", status=OrderStatus.WORKING),
        _record(
            "900",
            "SPY",
            -5,
            order_id="1",
            status=OrderStatus.FILLED,
            filled_quantity=-5,
            avg_fill_price=Decimal("589.10"),
        ),
    ]

    [resolution], unknown = resolve_orders(journalled, records)

    assert resolution.outcome == "filled"
    assert resolution.after.status is OrderStatus.FILLED
    assert (resolution.after.filled_quantity, resolution.after.avg_fill_price) == (
        -5,
        Decimal("589.10"),
    )
    assert [r.perm_id for r in unknown] == ["901"]


def test_resolve_order_without_perm_id_needs_same_id_symbol_and_quantity() -> None:
    journalled = [_trade("AGG", 3, order_id="7")]
    records = [
        _record("900", "IEF", 3, order_id="7", status=OrderStatus.FILLED, filled_quantity=3),
        _record("901", "AGG", 3, order_id="7", status=OrderStatus.CANCELLED),
    ]

    [resolution], unknown = resolve_orders(journalled, records)

    assert (resolution.outcome, resolution.after.perm_id) == ("cancelled", "901")
    assert [r.symbol for r in unknown] == ["IEF"]


def test_resolve_intent_takes_an_unclaimed_order_like_it_or_was_never_placed() -> None:
    acked = _trade("SPY", -5, order_id="1", perm_id="900")
    intent = _trade("SPY", -5)
    missing = _trade("TLT", -2)
    records = [
        _record("900", "SPY", -5, order_id="1", status=OrderStatus.FILLED, filled_quantity=-5),
        _record("902", "SPY", -5, order_id="3", status=OrderStatus.WORKING),
    ]

    resolutions, unknown = resolve_orders([intent, acked, missing], records)

    assert [r.outcome for r in resolutions] == ["working", "filled", "never placed"]
    assert (resolutions[0].after.order_id, resolutions[0].after.perm_id) == ("3", "902")
    assert not resolutions[0].final
    assert unknown == []


def test_resolve_executions_only_with_fewer_shares_is_partially_filled() -> None:
    journalled = [_trade("GLD", -20, order_id="4", perm_id="900")]
    records = [
        _record(
            "900",
            "GLD",
            None,
            order_id="4",
            status=OrderStatus.FILLED,
            filled_quantity=-12,
            avg_fill_price=Decimal("245.80"),
        )
    ]

    [resolution], _ = resolve_orders(journalled, records)

    assert resolution.outcome == "partially filled"
    assert resolution.after.status is OrderStatus.CANCELLED
    assert resolution.describe() == (
        "SELL 20 GLD (order 4, perm id 900): partially filled, 12 filled at 245.80"
    )


def test_resolve_acknowledged_order_the_broker_no_longer_lists_is_not_listed() -> None:
    [resolution], _ = resolve_orders([_trade("SPY", 1, order_id="9", perm_id="909")], [])

    assert resolution.outcome == "not listed"
    assert resolution.after == resolution.before


def test_positions_expected_from_before_plus_fills_and_differences_both_ways() -> None:
    reconciler = PositionReconciler()
    before = {"SPY": Decimal(50), "TLT": Decimal(100)}
    fills = [
        _trade("SPY", -10, filled_quantity=-10),
        _trade("TLT", -100, filled_quantity=-100),
        _trade("AGG", 40, filled_quantity=40),
        _trade("QQQ", 5, filled_quantity=None),
    ]

    expected = reconciler.expected_after(before, fills)
    found = reconciler.differences(
        expected, {"SPY": Decimal(40), "AGG": Decimal(39), "IEF": Decimal("0.5")}
    )

    assert expected == {"SPY": 40, "TLT": 0, "AGG": 40}
    assert found == [
        PositionDifference(symbol="AGG", expected=Decimal(40), actual=Decimal(39)),
        PositionDifference(symbol="IEF", expected=Decimal(0), actual=Decimal("0.5")),
    ]
    assert found[0].describe() == "AGG: 39 held, 40 expected (-1)"
    assert reconciler.reconcile_after_orders(before, fills, expected) == []


async def test_run_reports_a_position_changed_outside_the_run(
    broker: InMemoryBroker, exchange: FakeExchange
) -> None:
    def outside_trade(trade: Trade) -> None:
        # Someone buys 7 GLD by hand while the run waits for its last fill.
        if trade.status is OrderStatus.FILLED and trade.quantity > 0 and "GLD" not in touched:
            touched.add("GLD")
            exchange.accounts[ACCOUNT].positions["GLD"] = Decimal(7)

    touched: set[str] = set()
    source = StaticAllocationSource({"etf-blend": {"SPY": "0.5", "AGG": "0.5"}})
    rebalancer = Rebalancer(
        broker,
        allocation_source=source,
        on_order=outside_trade,
        fill_timeout_secs=2,
        settle_timeout_secs=0.2,
        extra_rounds=0,
    )

    result = await rebalancer.rebalance_account(account_config())

    assert result.success, result.error
    assert result.position_differences == [
        PositionDifference(symbol="GLD", expected=Decimal(0), actual=Decimal(7))
    ]


async def test_run_whose_fills_show_reports_no_difference(broker: InMemoryBroker) -> None:
    source = StaticAllocationSource({"etf-blend": {"SPY": "0.5", "AGG": "0.5"}})
    result = await Rebalancer(broker, allocation_source=source).rebalance_account(account_config())

    assert result.success, result.error
    assert result.orders
    assert result.position_differences == []


async def test_final_check_reads_again_when_the_closing_snapshot_lags_the_fills(
    broker: InMemoryBroker,
) -> None:
    # The snapshot the last plan took before a fill showed: the final state must not be it.
    rebalancer = Rebalancer(
        broker,
        allocation_source=StaticAllocationSource({"etf-blend": {"SPY": "1"}}),
        settle_timeout_secs=2,
    )
    preview = await rebalancer.calculate_rebalance(account_config())
    stale = await broker.get_account_snapshot(ACCOUNT)
    placed = await broker.place_order(ACCOUNT, "SPY", -10)
    fill = await broker.wait_for_order(placed.order_id, timeout_secs=2)
    sold = _trade("SPY", -10, order_id=placed.order_id, status=fill.status, filled_quantity=-10)
    run = RunRecord(orders=[sold], plan=preview.plan, settled=(stale, 1))

    final, differences = await rebalancer._final_state(ACCOUNT, run)

    assert {p.symbol: p.quantity for p in stale.positions}["SPY"] == 50
    assert {p.symbol: p.quantity for p in final.positions}["SPY"] == 40
    assert differences == []
