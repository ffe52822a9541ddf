"""Property tests: exact round trips, normalisation, and the fake's cash-account invariants."""

from __future__ import annotations

import asyncio
import pickle
from decimal import Decimal

from broker_connector_base.exceptions import (
    BrokerAPIError,
    InvalidInputError,
    MarketClosedError,
    OrderExecutionError,
)
from broker_connector_base.fake import FakeAccount, FakeExchange, InMemoryBroker
from broker_connector_base.models import (
    AccountPosition,
    AccountSnapshot,
    AllocationItem,
    ContractPrice,
    Trade,
)
from hypothesis import given, settings
from hypothesis import strategies as st

_money = st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**12), max_value=10**12)
_price = st.decimals(allow_nan=False, allow_infinity=False, min_value=0, max_value=10**7)
_ticker = st.from_regex(r"[A-Z][A-Z0-9]{0,4}(\.[A-Z])?", fullmatch=True)


@settings(max_examples=50)
@given(price=_price, target=_price, current=_money, shares=_money, quantity=st.integers())
def test_trade_decimals_round_trip_exactly_through_json(
    price: Decimal, target: Decimal, current: Decimal, shares: Decimal, quantity: int
) -> None:
    if quantity == 0:
        quantity = 1
    trade = Trade(
        symbol="SPY",
        quantity=quantity,
        current_shares=shares,
        target_value=target,
        current_value=current,
        price=price,
    )
    again = Trade.model_validate_json(trade.model_dump_json())
    assert again == trade
    assert str(again.price) == str(price)  # same digits and exponent, not just equal value


@settings(max_examples=50)
@given(
    cash=_money,
    positions=st.dictionaries(_ticker, st.tuples(_money, _price), max_size=5),
)
def test_snapshot_round_trips_exactly_through_json(
    cash: Decimal, positions: dict[str, tuple[Decimal, Decimal]]
) -> None:
    snap = AccountSnapshot(
        account_id="DU1",
        total_value=cash + sum((q * p for q, p in positions.values()), Decimal(0)),
        cash_balance=cash,
        settled_cash=cash,
        positions=[
            AccountPosition(symbol=s, quantity=q, market_price=p, market_value=q * p)
            for s, (q, p) in positions.items()
        ],
    )
    assert AccountSnapshot.model_validate_json(snap.model_dump_json()) == snap


@given(st.floats(min_value=0, max_value=1, allow_nan=False))
def test_float_allocation_becomes_its_shortest_decimal(value: float) -> None:
    allocation = AllocationItem(symbol="X", allocation=value).allocation
    assert allocation == Decimal(repr(value))
    assert float(allocation) == value


@given(_ticker, st.text(alphabet=" \t", max_size=3), st.text(alphabet=" \t", max_size=3))
def test_symbol_normalisation_is_idempotent(symbol: str, before: str, after: str) -> None:
    quote = ContractPrice(symbol=f"{before}{symbol.lower()}{after}")
    assert quote.symbol == symbol
    assert ContractPrice(symbol=quote.symbol).symbol == symbol


@given(
    message=st.text(max_size=50),
    code=st.none() | st.text(max_size=5),
    order_id=st.none() | st.from_regex(r"[0-9]{1,9}", fullmatch=True),
    source=st.none() | st.text(min_size=1, max_size=20),
)
def test_exceptions_pickle_with_any_field_values(
    message: str, code: str | None, order_id: str | None, source: str | None
) -> None:
    for exc in (
        BrokerAPIError(message, api_code=code),
        OrderExecutionError(message, order_id=order_id),
        MarketClosedError(message, next_open=code),
        InvalidInputError(message, source=source),
    ):
        copied = pickle.loads(pickle.dumps(exc))
        assert (type(copied), str(copied), vars(copied)) == (type(exc), str(exc), vars(exc))


_CASH = Decimal("2000.00")
_BID = {"SPY": Decimal("99.99"), "VTI": Decimal("230.10")}
_ASK = {"SPY": Decimal("100.01"), "VTI": Decimal("230.13")}


async def _trade_all(
    orders: list[tuple[str, int]],
) -> tuple[AccountSnapshot, Decimal, dict[str, Decimal]]:
    """Place ``orders``; return the final snapshot and the cash and holdings they imply."""
    exchange = FakeExchange(
        accounts={"DU1": FakeAccount(cash=_CASH, positions={"VTI": 4})},
        quotes=[ContractPrice(symbol=s, bid=_BID[s], ask=_ASK[s]) for s in _BID],
    )
    broker = InMemoryBroker(exchange)
    await broker.connect()
    cash = _CASH
    held = {"VTI": Decimal(4)}
    for symbol, quantity in orders:
        try:
            await broker.place_order("DU1", symbol, quantity)
        except OrderExecutionError:
            # Refused exactly when it would borrow or short.
            price = _ASK[symbol] if quantity > 0 else _BID[symbol]
            assert quantity * price > cash or -quantity > held.get(symbol, 0)
            continue
        cash -= quantity * (_ASK[symbol] if quantity > 0 else _BID[symbol])
        held[symbol] = held.get(symbol, Decimal(0)) + quantity
    return await broker.get_account_snapshot("DU1"), cash, held


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["SPY", "VTI"]), st.integers(-8, 8).filter(bool)), max_size=12
    )
)
def test_fake_cash_account_never_borrows_or_shorts_and_cash_is_exact(
    orders: list[tuple[str, int]],
) -> None:
    snap, cash, held = asyncio.run(_trade_all(orders))
    assert snap.cash_balance == cash  # exact: each fill moved cash by quantity * price
    assert snap.cash_balance >= 0
    assert {p.symbol: p.quantity for p in snap.positions} == {
        s: q for s, q in held.items() if q != 0
    }
    assert all(p.quantity > 0 for p in snap.positions)
