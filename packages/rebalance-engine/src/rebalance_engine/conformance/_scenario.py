"""What a connector supplies to the rebalancer suite: a broker built in a described state.

``RebalanceScenario`` describes the starting state (cash, positions, quotes, market hours,
faults); the connector's ``build_broker`` fixture turns it into a connected ``BrokerClient`` on
a fresh simulator (or fake, or backtest book) and hands back a ``ScenarioBroker``: the client,
the account id, the broker's own record of the orders it received, and a way to clear the
faults. ``fake_scenario_broker`` is the reference implementation, on the in-memory fake.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from broker_connector_base import BrokerClient, ContractPrice
from broker_connector_base.fake import FakeAccount, FakeExchange, InMemoryBroker

__all__ = [
    "STANDARD_QUOTES",
    "BrokerOrder",
    "BuildBroker",
    "RebalanceScenario",
    "ScenarioBroker",
    "fake_scenario_broker",
]

STANDARD_QUOTES: Mapping[str, tuple[str, str]] = {
    "SPY": ("589.10", "589.12"),
    "QQQ": ("509.45", "509.48"),
    "EFA": ("81.52", "81.53"),
    "TLT": ("92.87", "92.88"),
    "IEF": ("95.41", "95.42"),
    "AGG": ("99.02", "99.03"),
    "GLD": ("245.80", "245.83"),
    "IAU": ("49.90", "49.92"),
    "DBC": ("22.64", "22.65"),
    "PDBC": ("13.41", "13.42"),
}
"""Bid and ask of the symbols the suite's scenarios trade (the IB simulator's example prices)."""


@dataclass(frozen=True)
class RebalanceScenario:
    """The state a broker starts a suite test in: one cash account, nothing else.

    The broker charges no commission (so cash checks are exact), fills market orders at the
    quote (buys at the ask, sells at the bid) while the market is open, and lets the account
    neither borrow nor sell short.

    Attributes:
        cash: Cash (all settled).
        positions: Shares held per symbol (each has a quote).
        quotes: ``symbol: (bid, ask)`` of every symbol the broker knows.
        market_open: ``False``: every symbol is outside its trading hours (a weekend), and
            the broker says when it opens next.
        fill_delay_secs: Marketable orders are acknowledged as working and fill this much
            later (0: at once).
        reject_symbols: The broker rejects every order in these symbols.
        partial_fill_symbols: Orders in these symbols fill part of their quantity (at least
            one share of two or more, never all) and the rest keeps working until cancelled.
            A broker that can only do this for every symbol may.
        drop_connection_after_orders: ``n``: the connection breaks right after the ``n``-th
            order reached the broker (which keeps it); ``None``: never.
    """

    cash: Decimal
    positions: Mapping[str, int]
    quotes: Mapping[str, tuple[Decimal, Decimal]] = field(
        default_factory=lambda: {
            s: (Decimal(b), Decimal(a)) for s, (b, a) in STANDARD_QUOTES.items()
        }
    )
    market_open: bool = True
    fill_delay_secs: float = 0.0
    reject_symbols: frozenset[str] = frozenset()
    partial_fill_symbols: frozenset[str] = frozenset()
    drop_connection_after_orders: int | None = None

    def __post_init__(self) -> None:
        unquoted = sorted(set(self.positions) - set(self.quotes))
        if unquoted:
            raise ValueError(f"positions {unquoted} have no quote")
        if self.drop_connection_after_orders is not None and self.drop_connection_after_orders < 1:
            raise ValueError("drop_connection_after_orders must be at least 1")


@dataclass(frozen=True)
class BrokerOrder:
    """An order as the broker recorded it (not as the client reported it).

    Attributes:
        symbol: The ticker.
        quantity: Shares ordered, negative for a sell.
        order_ref: The tag stored with the order (``None`` or ``""`` when none).
        filled_quantity: Shares filled so far, signed like ``quantity``.
        working: Whether the order can still fill.
    """

    symbol: str
    quantity: int
    order_ref: str | None
    filled_quantity: int
    working: bool


@dataclass(frozen=True)
class ScenarioBroker:
    """A broker in a scenario's state, as the suite uses it.

    Attributes:
        client: A connected client of the connector under test.
        account_id: The scenario's account at that broker.
        orders: Every order the broker received, in the order received.
        clear_faults: Turns the scenario's faults off (rejects, partial fills, drops);
            a coroutine function is awaited.
    """

    client: BrokerClient
    account_id: str
    orders: Callable[[], Sequence[BrokerOrder]]
    clear_faults: Callable[[], object]


BuildBroker = Callable[[RebalanceScenario], Awaitable[ScenarioBroker]]
"""What a connector's ``build_broker`` fixture returns: ``await build(scenario)``."""

FAKE_ACCOUNT = "DU100001"
_NEXT_OPEN = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)


async def fake_scenario_broker(scenario: RebalanceScenario) -> ScenarioBroker:
    """``scenario`` on the in-memory fake broker (the reference ``BuildBroker``)."""
    exchange = FakeExchange(
        accounts={
            FAKE_ACCOUNT: FakeAccount(cash=scenario.cash, positions=dict(scenario.positions))
        },
        quotes=[ContractPrice(symbol=s, bid=b, ask=a) for s, (b, a) in scenario.quotes.items()],
        market_open=scenario.market_open,
        next_open=None if scenario.market_open else _NEXT_OPEN,
    )
    for symbol in scenario.reject_symbols:
        exchange.reject_symbol(symbol, "the account may not trade it")
    for symbol in scenario.partial_fill_symbols:
        exchange.set_partial_fill(symbol, 1)
    exchange.set_fill_delay(scenario.fill_delay_secs)
    broker = InMemoryBroker(exchange)
    await broker.connect()
    broker.drop_connection_after_orders(scenario.drop_connection_after_orders)

    def clear() -> None:
        for symbol in scenario.reject_symbols:
            exchange.reject_symbol(symbol, None)
        for symbol in scenario.partial_fill_symbols:
            exchange.set_partial_fill(symbol, None)
        broker.drop_connection_after_orders(None)

    def orders() -> list[BrokerOrder]:
        return [
            BrokerOrder(
                symbol=o.symbol,
                quantity=o.quantity,
                order_ref=o.order_ref,
                filled_quantity=o.filled_quantity,
                working=not o.status.is_final,
            )
            for o in exchange.order_log
        ]

    return ScenarioBroker(broker, FAKE_ACCOUNT, orders, clear)
