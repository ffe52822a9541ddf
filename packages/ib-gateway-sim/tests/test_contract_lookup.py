"""Contract lookups by ISIN and ambiguous tickers (real ib_async against the simulator)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest
from ib_async import IB, Contract, MarketOrder, Stock, Trade
from ib_gateway_sim import GatewaySimulator, Scenario
from ib_gateway_sim.scenario import SymbolSpec

Connect = Callable[..., Awaitable[IB]]
Errors = Callable[[IB], list[tuple[int, int, str]]]
TradeUntil = Callable[..., Awaitable[None]]

_LISTING = SymbolSpec(
    con_id=9_000_001,
    symbol="SPY",
    primary_exchange="NYSE",
    isin="US0378331005",
    bid=Decimal("10.00"),
    ask=Decimal("10.02"),
)


@pytest.fixture
def scenario() -> Scenario:
    """The example with SPY listed twice: ARCA (the example's) and a second NYSE listing."""
    base = Scenario.builtin("example")
    spy = base.symbols["SPY"].model_copy(update={"isin": "US78462F1030"})
    return base.model_copy(update={"symbols": {**base.symbols, "SPY": spy, "SPY.N": _LISTING}})


async def test_details_by_ticker_alone_list_every_listing(connect: Connect) -> None:
    ib = await connect()

    details = await ib.reqContractDetailsAsync(Stock("SPY", "SMART", "USD"))

    contracts = [d.contract for d in details if d.contract is not None]
    assert sorted((c.conId, c.primaryExchange) for c in contracts) == [
        (756733, "ARCA"),
        (9_000_001, "NYSE"),
    ]
    assert {c.symbol for c in contracts} == {"SPY"}


@pytest.mark.parametrize(
    ("contract", "con_id"),
    [
        (Contract(secIdType="ISIN", secId="US0378331005", exchange="SMART"), 9_000_001),
        (Contract(secIdType="ISIN", secId="US78462F1030", secType="STK"), 756733),
        (Stock("SPY", "SMART", "USD", primaryExchange="NYSE"), 9_000_001),
        (Contract(conId=756733, exchange="SMART"), 756733),
    ],
    ids=["isin-second", "isin-first", "primary-exchange", "con-id"],
)
async def test_details_by_isin_primary_exchange_or_con_id_find_one_listing(
    connect: Connect, contract: Contract, con_id: int
) -> None:
    ib = await connect()

    [details] = await ib.reqContractDetailsAsync(contract)

    assert details.contract is not None
    assert details.contract.conId == con_id
    assert details.contract.symbol == "SPY"
    isin = "US0378331005" if con_id == 9_000_001 else "US78462F1030"
    assert [(t.tag, t.value) for t in details.secIdList] == [("ISIN", isin)]


async def test_unknown_isin_gets_error_200(connect: Connect, ib_errors: Errors) -> None:
    ib = await connect()
    errors = ib_errors(ib)

    details = await ib.reqContractDetailsAsync(Contract(secIdType="ISIN", secId="US0000000000"))

    assert details == []
    assert [code for _, code, _ in errors] == [200]


async def test_quote_for_an_ambiguous_ticker_gets_error_200_naming_it(
    connect: Connect, ib_errors: Errors
) -> None:
    ib = await connect()
    errors = ib_errors(ib)

    # ib_async's own reqMktData wants a qualified (hashable) contract: send the message raw.
    req_id = ib.client.getReqId()
    ib.client.reqMktData(req_id, Stock("SPY", "SMART", "USD"), "", True, False, [])  # type: ignore[no-untyped-call]
    await ib.reqCurrentTimeAsync()  # the error arrives before the answer to this

    [(errored, code, text)] = errors
    assert errored == req_id
    assert code == 200
    assert "The contract description specified for SPY is ambiguous" in text


async def test_second_listing_trades_and_is_held_under_its_ticker(
    connect: Connect, sim: GatewaySimulator, trade_until: TradeUntil
) -> None:
    ib = await connect()
    [details] = await ib.reqContractDetailsAsync(Contract(conId=9_000_001, exchange="SMART"))
    assert details.contract is not None

    trade = ib.placeOrder(details.contract, MarketOrder("BUY", 3, account="DU789012"))
    await trade_until(trade, Trade.isDone)

    assert trade.orderStatus.avgFillPrice == 10.02
    assert trade.fills[0].contract.symbol == "SPY"
    assert sim.positions("DU789012")["SPY.N"] == Decimal(3)
    held = [p for p in ib.positions("DU789012") if p.contract.conId == 9_000_001]
    assert [(p.contract.symbol, p.position) for p in held] == [("SPY", 3.0)]
