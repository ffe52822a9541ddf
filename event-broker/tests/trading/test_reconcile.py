"""Order reconciliation in the worker (``app.trading.reconcile``) against the in-memory broker
(it keeps every order with its ``orderRef``, as IB does) and a real journal file."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from app.store.journal import Journal
from app.trading.reconcile import reconcile_orders
from broker_connector_base import ContractPrice, OrderStatus, Trade
from broker_connector_base.fake import FakeAccount, FakeExchange, InMemoryBroker

ACCOUNT = "DU1"
RUN = "run-1"


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.sqlite3") as opened:
        opened.start_run(run_id=RUN, account_id=ACCOUNT, mode="rebalance", client_id=1)
        yield opened


@pytest.fixture
async def broker() -> InMemoryBroker:
    exchange = FakeExchange(
        accounts={ACCOUNT: FakeAccount(cash=Decimal("10000"), positions={"SPY": 10, "TLT": 10})},
        quotes=[
            ContractPrice(symbol=symbol, bid=Decimal("99.99"), ask=Decimal("100.01"))
            for symbol in ("SPY", "TLT", "GLD")
        ],
    )
    client = InMemoryBroker(exchange)
    await client.connect()
    return client


async def _sell(broker: InMemoryBroker, symbol: str, status: OrderStatus) -> Trade:
    """Sell 2 ``symbol`` at the broker (it fills); the trade as the journal will have it."""
    placed = await broker.place_order(ACCOUNT, symbol, -2, order_ref=RUN)
    filled = status is OrderStatus.FILLED
    return Trade.model_validate(
        {
            "symbol": symbol,
            "quantity": -2,
            "current_shares": 10,
            "target_value": "800",
            "current_value": "1000",
            "price": "99.99",
            "order_id": placed.order_id,
            "perm_id": placed.perm_id,
            "status": status,
            "filled_quantity": -2 if filled else None,
            "avg_fill_price": "99.99" if filled else None,
        }
    )


async def test_reconcile_resolves_stale_rows_and_names_only_orders_the_journal_lacks(
    broker: InMemoryBroker, journal: Journal
) -> None:
    # SPY was journalled filled; TLT's fill never reached the journal (the worker died).
    journal.record_order(run_id=RUN, trade=await _sell(broker, "SPY", OrderStatus.FILLED))
    journal.record_order(run_id=RUN, trade=await _sell(broker, "TLT", OrderStatus.WORKING))
    # An order of the run the journal never heard of (sent, then the process died at once).
    await broker.place_order(ACCOUNT, "GLD", 1, order_ref=RUN)

    found = await reconcile_orders(broker, journal, ACCOUNT)

    assert len(found.lines) == 2, found.lines
    assert "SELL 2 TLT" in found.lines[0]
    assert "filled" in found.lines[0]
    assert "GLD" in found.lines[1]
    assert "which the journal does not know" in found.lines[1]
    # The order already final in the journal is not reported as unknown to it.
    assert not [line for line in found.lines if "SPY" in line]
    assert [(o.symbol, o.status, o.filled_quantity) for o in journal.run_orders(RUN)] == [
        ("SPY", "FILLED", -2),
        ("TLT", "FILLED", -2),
    ]
