"""Order engine invariants without the network: cash and positions stay consistent."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from ib_gateway_sim import Scenario, SimFill, SimOrder
from ib_gateway_sim.clock import MarketClock
from ib_gateway_sim.engine import Engine
from ib_gateway_sim.orders import OrderRequest
from ib_gateway_sim.state import AccountState

_SCENARIO = Scenario.from_yaml_text(
    """
accounts:
  DU1: {cash: 5000.00, positions: {AAA: {quantity: 10, avg_cost: 95.00}}}
symbols:
  AAA: {con_id: 1, bid: 99.98, ask: 100.02, last: 100.00}
  BBB: {con_id: 2, bid: 24.99, ask: 25.01, last: 25.00}
"""
)


class _Recorder:
    """EngineListener that records what the engine reported."""

    def __init__(self) -> None:
        self.refused: list[tuple[int, int]] = []
        self.fills: list[tuple[SimOrder, SimFill]] = []
        self.cancelled: list[int] = []

    def order_status(self, order: SimOrder, *, with_open_order: bool) -> None:
        pass

    def order_filled(self, order: SimOrder, fill: SimFill) -> None:
        self.fills.append((order, fill))

    def order_cancelled(self, order: SimOrder, code: int | None, text: str) -> None:
        self.cancelled.append(order.order_id)

    def order_refused(self, client_id: int, order_id: int, code: int, text: str) -> None:
        self.refused.append((order_id, code))

    def cancel_refused(self, client_id: int, order_id: int, code: int, text: str) -> None:
        self.refused.append((order_id, code))

    def order_warning(self, order: SimOrder, code: int, text: str) -> None:
        pass

    def account_changed(self, account: str, symbol: str | None) -> None:
        pass


def _engine() -> tuple[Engine, _Recorder]:
    recorder = _Recorder()
    engine = Engine(
        accounts={n: AccountState.from_spec(n, s) for n, s in _SCENARIO.accounts.items()},
        symbols=dict(_SCENARIO.symbols),
        clock=MarketClock(_SCENARIO.clock),
        fills=_SCENARIO.fills,
        faults=_SCENARIO.faults,
        listener=recorder,
    )
    return engine, recorder


def _request(order_id: int, symbol: str, action: str, quantity: int) -> OrderRequest:
    return OrderRequest(
        client_id=1,
        order_id=order_id,
        con_id=0,
        symbol=symbol,
        action=action,
        quantity=Decimal(quantity),
        order_type="MKT",
        limit_price=None,
        tif="",
        account="",
        order_ref="",
        exchange="SMART",
    )


_ORDERS = st.lists(
    st.tuples(
        st.sampled_from(["AAA", "BBB"]),
        st.sampled_from(["BUY", "SELL"]),
        st.integers(min_value=1, max_value=80),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(orders=_ORDERS)
def test_cash_and_positions_follow_the_fills_and_never_go_negative(
    orders: list[tuple[str, str, int]],
) -> None:
    engine, recorder = _engine()
    account = engine.accounts["DU1"]

    for order_id, (symbol, action, quantity) in enumerate(orders, start=1):
        engine.place(_request(order_id, symbol, action, quantity))
        assert account.cash >= 0
        assert all(p.quantity > 0 for p in account.positions.values())

    cash = Decimal("5000.00")
    held = {"AAA": Decimal(10), "BBB": Decimal(0)}
    for order, fill in recorder.fills:
        sign = 1 if order.is_buy else -1
        cash -= sign * fill.quantity * fill.price + fill.commission
        held[order.symbol] += sign * fill.quantity
    assert account.cash == cash
    assert {s: q for s, q in held.items() if q} == {
        s: p.quantity for s, p in account.positions.items()
    }
    filled_ids = {o.order_id for o, _ in recorder.fills}
    refused_ids = {order_id for order_id, _ in recorder.refused}
    assert filled_ids.isdisjoint(refused_ids)
    assert len(filled_ids) + len(refused_ids) == len(orders)
    assert {code for _, code in recorder.refused} <= {201}


def test_commission_has_minimum_and_percentage_cap() -> None:
    engine, _ = _engine()

    assert engine.commission(Decimal(10), Decimal("100")) == Decimal("1.00")
    assert engine.commission(Decimal(1000), Decimal("100")) == Decimal("5.00")
    assert engine.commission(Decimal(1), Decimal("10")) == Decimal("0.10")


def test_ioc_limit_that_cannot_fill_is_cancelled_without_error() -> None:
    engine, recorder = _engine()
    ioc = replace(
        _request(1, "BBB", "BUY", 5), order_type="LMT", tif="IOC", limit_price=Decimal("24.00")
    )

    order = engine.place(ioc)

    assert order is not None
    assert order.status == "Cancelled"
    assert recorder.cancelled == [1]
    assert recorder.refused == []


def test_unsupported_order_type_and_bad_limit_are_refused() -> None:
    engine, recorder = _engine()
    stop = replace(_request(1, "AAA", "BUY", 1), order_type="STP")
    no_limit = replace(_request(2, "AAA", "BUY", 1), order_type="LMT")

    engine.place(stop)
    engine.place(no_limit)

    assert recorder.refused == [(1, 201), (2, 201)]
    assert engine.orders == {}
