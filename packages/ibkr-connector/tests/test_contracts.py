"""The contract factory and pinned symbols (conId, ISIN, primary exchange): real ib_async
against a simulator that lists SPY twice."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from broker_connector_base import (
    AccountConfig,
    AllocationItem,
    BrokerAPIError,
    InstrumentRef,
    OrderStatus,
)
from ib_gateway_sim import GatewaySimulator, Scenario
from ib_gateway_sim.scenario import SymbolSpec
from ibkr_connector import IBKRClient
from ibkr_connector.contract_cache import ContractCache
from ibkr_connector.contracts import by_con_id, by_isin, for_instrument, stock
from ibkr_connector.testing import ACCOUNT, OTHER_ACCOUNT, MakeClient
from rebalance_engine import Rebalancer, StaticAllocationSource, StrategyAllocations

REQ_CONTRACT_DETAILS = 9

_SECOND_SPY = SymbolSpec(
    con_id=9_000_001,
    symbol="SPY",
    primary_exchange="NYSE",
    isin="US0378331005",
    bid=Decimal("10.00"),
    ask=Decimal("10.02"),
)


@pytest.fixture
def scenario() -> Scenario:
    """The example with a second SPY listing (NYSE, conid 9000001) besides the ARCA one."""
    base = Scenario.builtin("example")
    spy = base.symbols["SPY"].model_copy(update={"isin": "US78462F1030"})
    return base.model_copy(update={"symbols": {**base.symbols, "SPY": spy, "SPY.N": _SECOND_SPY}})


def test_factory_builds_stock_con_id_and_isin_contracts() -> None:
    assert (stock("SPY").symbol, stock("SPY").exchange, stock("SPY").currency) == (
        "SPY",
        "SMART",
        "USD",
    )
    assert stock("SPY", "ARCA").primaryExchange == "ARCA"
    assert (by_con_id(756733).conId, by_con_id(756733).exchange) == (756733, "SMART")
    isin = by_isin("US78462F1030")
    assert (isin.secIdType, isin.secId, isin.secType) == ("ISIN", "US78462F1030", "STK")
    ref = InstrumentRef(symbol="SPY", con_id=1, isin="US78462F1030")
    assert for_instrument(ref).conId == 1  # the conId wins over the ISIN


async def test_ambiguous_symbol_is_refused_naming_every_candidate(client: IBKRClient) -> None:
    with pytest.raises(BrokerAPIError) as caught:
        await client.get_multiple_market_prices(["SPY"])

    message = str(caught.value)
    assert "symbol SPY is ambiguous at IB (2 contracts" in message
    assert "conid 756733 on ARCA" in message
    assert "conid 9000001 on NYSE" in message
    assert "pin it in the allocations with its conid or isin" in message


@pytest.mark.parametrize(
    "ref",
    [
        InstrumentRef(symbol="SPY", con_id=9_000_001),
        InstrumentRef(symbol="SPY", isin="US0378331005"),
        InstrumentRef(symbol="SPY", primary_exchange="NYSE"),
    ],
    ids=["conid", "isin", "primary-exchange"],
)
async def test_pinned_symbol_quotes_and_trades_the_pinned_listing(
    sim: GatewaySimulator, client: IBKRClient, ref: InstrumentRef
) -> None:
    await client.resolve_instruments([ref])

    [quote] = await client.get_multiple_market_prices(["SPY"])
    hours = await client.get_trading_hours_status(["SPY"])
    placed = await client.place_order(ACCOUNT, "SPY", 2)
    fill = await client.wait_for_order(placed.order_id, timeout_secs=5)

    assert (quote.bid, quote.ask) == (Decimal("10.0"), Decimal("10.02"))
    assert hours.is_open
    assert fill.status is OrderStatus.FILLED
    assert [(o.con_id, o.quantity) for o in sim.orders()] == [(9_000_001, Decimal(2))]


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (InstrumentRef(symbol="QQQ", con_id=9_000_001), "its ticker is SPY"),
        (
            InstrumentRef(symbol="SPY", con_id=756733, primary_exchange="NYSE"),
            "its primary exchange is ARCA",
        ),
        (
            InstrumentRef(symbol="SPY", isin="US4642874329"),
            r"SPY \(ISIN US4642874329\): IB error 200: No security definition",
        ),
        (InstrumentRef(symbol="SPY", con_id=123), r"SPY \(conid 123\): IB error 200"),
    ],
    ids=["other-ticker", "other-exchange", "unknown-isin", "unknown-conid"],
)
async def test_pin_that_names_another_security_or_none_is_refused_before_any_order(
    sim: GatewaySimulator, client: IBKRClient, ref: InstrumentRef, message: str
) -> None:
    with pytest.raises(BrokerAPIError, match=message):
        await client.resolve_instruments([ref])

    assert sim.orders() == []


def _pinned_source(pin: InstrumentRef | None) -> StaticAllocationSource:
    return StaticAllocationSource(
        {
            "etf-blend": StrategyAllocations(
                name="etf-blend",
                strategy_long_name="etf-blend",
                last_rebalance_on="",
                allocations=[
                    AllocationItem(symbol="SPY", allocation=Decimal("0.5")),
                    AllocationItem(symbol="AGG", allocation=Decimal("0.5")),
                ],
                instruments=(pin,) if pin is not None else (),
            )
        }
    )


def _account(account_id: str) -> AccountConfig:
    return AccountConfig(account_id=account_id, type="paper", strategy_name="etf-blend")


async def test_rebalance_of_a_pinned_ambiguous_symbol_buys_the_pinned_listing(
    sim: GatewaySimulator, client: IBKRClient
) -> None:
    source = _pinned_source(InstrumentRef(symbol="SPY", con_id=9_000_001))

    result = await Rebalancer(client, allocation_source=source).rebalance_account(
        _account(OTHER_ACCOUNT)
    )

    assert result.success, result.error
    spy = [o for o in sim.orders() if o.wire_symbol == "SPY"]
    assert {o.con_id for o in spy} == {9_000_001}
    assert sim.positions(OTHER_ACCOUNT)["SPY.N"] > 0


async def test_rebalance_of_an_ambiguous_symbol_without_a_pin_fails_before_any_order(
    sim: GatewaySimulator, client: IBKRClient
) -> None:
    result = await Rebalancer(client, allocation_source=_pinned_source(None)).rebalance_account(
        _account(OTHER_ACCOUNT)
    )

    assert not result.success
    assert result.error is not None
    assert "symbol SPY is ambiguous at IB" in result.error
    assert sim.orders() == []


async def test_holding_the_other_listing_of_a_pinned_symbol_fails_before_any_order(
    sim: GatewaySimulator, client: IBKRClient
) -> None:
    source = _pinned_source(InstrumentRef(symbol="SPY", con_id=9_000_001))

    result = await Rebalancer(client, allocation_source=source).rebalance_account(
        _account(ACCOUNT)  # holds 50 SPY of the ARCA listing
    )

    assert not result.success
    assert result.error is not None
    assert "holds SPY as conid 756733, but the allocations pin SPY to conid 9000001" in (
        result.error
    )
    assert sim.orders() == []


async def test_pinned_symbol_is_never_shared_with_other_clients_of_the_gateway(
    sim: GatewaySimulator, make_client: MakeClient, tmp_path: Path
) -> None:
    pinned = await make_client(client_id=21)
    await pinned.resolve_instruments([InstrumentRef(symbol="SPY", con_id=9_000_001)])
    assert (await pinned.get_trading_hours_status(["SPY", "AGG"])).is_open
    other = await make_client(client_id=22)

    # Another strategy on the gateway, without the pin: its own lookup finds SPY ambiguous.
    with pytest.raises(BrokerAPIError, match="symbol SPY is ambiguous at IB"):
        await other.get_trading_hours_status(["SPY"])

    assert sim.received[22, REQ_CONTRACT_DETAILS] == 1
    stored = ContractCache(tmp_path / "data" / "contract_cache.sqlite3", ttl_secs=60).get(
        ["SPY", "AGG"]
    )
    assert list(stored) == ["AGG"]
