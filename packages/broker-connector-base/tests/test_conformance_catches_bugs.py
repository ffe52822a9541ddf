"""The conformance suite fails connectors that break the contract (it is not vacuous).

Each case takes the fake broker, breaks one guarantee in a subclass, and runs the one suite
test that guards it; the test must fail. The unbroken fake must pass the same test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, replace
from datetime import datetime
from decimal import Decimal

import pytest
from broker_connector_base.conformance import (
    BrokerClientConformance,
    ConformanceEnv,
    fake_faults,
    overridden_tests,
)
from broker_connector_base.exceptions import BrokerConnectionError, OrderExecutionError
from broker_connector_base.fake import FakeAccount, FakeExchange, InMemoryBroker
from broker_connector_base.models import (
    AccountSnapshot,
    ContractPrice,
    OpenOrder,
    OrderFill,
    OrderRecord,
    OrderResult,
    OrderStatus,
    TradingHoursStatus,
)
from broker_connector_base.order_spec import MARKET, OrderSpec


class _Suite(BrokerClientConformance):
    """Not collected (no ``Test`` prefix): driven by hand below, with short timeouts."""

    timeout_secs = 0.5
    short_wait_secs = 0.05
    quantity = 2  # so that a one-share partial fill is not a complete one


class _CancelAllReturnsNothing(InMemoryBroker):
    async def cancel_all_orders(self, account_id: str, *, timeout_secs: float) -> list[str]:
        await super().cancel_all_orders(account_id, timeout_secs=timeout_secs)
        return []


class _UnknownOrderRaises(InMemoryBroker):
    async def get_order_status(self, order_id: str) -> OrderStatus:
        status = await super().get_order_status(order_id)
        if status == OrderStatus.NOT_FOUND:
            raise OrderExecutionError(f"no order {order_id}")
        return status


class _ValuesAtCost(InMemoryBroker):
    async def get_account_snapshot(
        self, account_id: str, *, use_cached_prices: bool = False
    ) -> AccountSnapshot:
        snap = await super().get_account_snapshot(account_id)
        positions = [
            p.model_copy(update={"market_value": p.quantity * (p.avg_cost or Decimal(0))})
            for p in snap.positions
        ]
        return snap.model_copy(update={"positions": positions})


class _UnknownAccountEmpty(InMemoryBroker):
    async def get_account_snapshot(
        self, account_id: str, *, use_cached_prices: bool = False
    ) -> AccountSnapshot:
        if account_id not in self.exchange.accounts:
            zero = Decimal(0)
            return AccountSnapshot(
                account_id=account_id, total_value=zero, cash_balance=zero, settled_cash=zero
            )
        return await super().get_account_snapshot(account_id)


class _SendsUndeclaredTypesAsMarket(InMemoryBroker):
    """Declares no ADAPTIVE orders, yet takes one and sends it as a market order."""

    async def place_order(
        self,
        account_id: str,
        symbol: str,
        quantity: int,
        *,
        order: OrderSpec = MARKET,
        order_ref: str | None = None,
    ) -> OrderResult:
        if order.type not in self.supported_order_types:
            order = MARKET
        return await super().place_order(
            account_id, symbol, quantity, order=order, order_ref=order_ref
        )


class _MocFillsAtOnce(InMemoryBroker):
    """Sends a market-on-close order as a market order: it fills in the session."""

    async def place_order(
        self,
        account_id: str,
        symbol: str,
        quantity: int,
        *,
        order: OrderSpec = MARKET,
        order_ref: str | None = None,
    ) -> OrderResult:
        if order.type == "MOC":
            order = MARKET
        return await super().place_order(
            account_id, symbol, quantity, order=order, order_ref=order_ref
        )


class _MidpriceAsMarket(InMemoryBroker):
    """Sends MIDPRICE as a market order: a buy pays the ask."""

    async def place_order(
        self,
        account_id: str,
        symbol: str,
        quantity: int,
        *,
        order: OrderSpec = MARKET,
        order_ref: str | None = None,
    ) -> OrderResult:
        if order.type == "MIDPRICE":
            order = MARKET
        return await super().place_order(
            account_id, symbol, quantity, order=order, order_ref=order_ref
        )


class _CommissionUnknown(InMemoryBroker):
    async def wait_for_order(self, order_id: str, *, timeout_secs: float) -> OrderFill:
        fill = await super().wait_for_order(order_id, timeout_secs=timeout_secs)
        return fill.model_copy(update={"commission": None})


class _ForgetsOrderRef(InMemoryBroker):
    async def place_order(
        self,
        account_id: str,
        symbol: str,
        quantity: int,
        *,
        order: OrderSpec = MARKET,
        order_ref: str | None = None,
    ) -> OrderResult:
        return await super().place_order(account_id, symbol, quantity, order=order)


class _ReusesOrderIds(InMemoryBroker):
    async def place_order(
        self,
        account_id: str,
        symbol: str,
        quantity: int,
        *,
        order: OrderSpec = MARKET,
        order_ref: str | None = None,
    ) -> OrderResult:
        result = await super().place_order(
            account_id, symbol, quantity, order=order, order_ref=order_ref
        )
        return result.model_copy(update={"order_id": "1"})


class _UnsignedSellFill(InMemoryBroker):
    async def wait_for_order(self, order_id: str, *, timeout_secs: float) -> OrderFill:
        fill = await super().wait_for_order(order_id, timeout_secs=timeout_secs)
        return fill.model_copy(update={"filled_quantity": abs(fill.filled_quantity)})


class _SortsPrices(InMemoryBroker):
    async def get_multiple_market_prices(
        self, symbols: Sequence[str], *, use_cache: bool = False
    ) -> list[ContractPrice]:
        prices = await super().get_multiple_market_prices(symbols)
        return sorted(prices, key=lambda p: p.symbol)


class _SkipsUnknownSymbols(InMemoryBroker):
    async def get_multiple_market_prices(
        self, symbols: Sequence[str], *, use_cache: bool = False
    ) -> list[ContractPrice]:
        known = [s for s in symbols if s.upper() in self.exchange.quotes]
        return await super().get_multiple_market_prices(known)


class _IgnoresCancel(InMemoryBroker):
    async def cancel_order(self, order_id: str) -> None:
        await self.get_order_status(order_id)


class _AlwaysOpen(InMemoryBroker):
    async def get_trading_hours_status(self, symbols: Sequence[str]) -> TradingHoursStatus:
        status = await super().get_trading_hours_status(symbols)
        return status.model_copy(update={"is_open": True, "closed_symbols": []})


class _DisconnectTwiceRaises(InMemoryBroker):
    async def disconnect(self) -> None:
        if not self.is_connected():
            raise BrokerConnectionError("not connected")
        await super().disconnect()


class _ForgetsTodaysBuys(InMemoryBroker):
    async def get_symbols_bought_today(self, account_id: str) -> frozenset[str]:
        await super().get_symbols_bought_today(account_id)
        return frozenset()


class _ListsEveryKnownSymbolAsBought(InMemoryBroker):
    async def get_symbols_bought_today(self, account_id: str) -> frozenset[str]:
        return await super().get_symbols_bought_today(account_id) | {"VTI"}


class _TodaysBuysOfAnyAccount(InMemoryBroker):
    async def get_symbols_bought_today(self, account_id: str) -> frozenset[str]:
        return frozenset()


class _Hangs(InMemoryBroker):
    def __init__(self, exchange: FakeExchange) -> None:
        super().__init__(exchange, latency_secs=30)


class _HalfFills(InMemoryBroker):
    def __init__(self, exchange: FakeExchange) -> None:
        exchange.set_partial_fill("SPY", 1)
        super().__init__(exchange)


class _RejectionLooksWorking(InMemoryBroker):
    """Swallows the rejection: the order looks placed and still working."""

    async def wait_for_order(self, order_id: str, *, timeout_secs: float) -> OrderFill:
        fill = await super().wait_for_order(order_id, timeout_secs=timeout_secs)
        if fill.status == OrderStatus.REJECTED:
            return fill.model_copy(update={"status": OrderStatus.WORKING})
        return fill

    async def place_order(
        self,
        account_id: str,
        symbol: str,
        quantity: int,
        *,
        order: OrderSpec = MARKET,
        order_ref: str | None = None,
    ) -> OrderResult:
        try:
            return await super().place_order(
                account_id, symbol, quantity, order=order, order_ref=order_ref
            )
        except OrderExecutionError as exc:
            return OrderResult(
                order_id=exc.order_id or "0",
                symbol=symbol,
                quantity=quantity,
                status=OrderStatus.REJECTED,
            )


class _PartialLooksFilled(InMemoryBroker):
    async def wait_for_order(self, order_id: str, *, timeout_secs: float) -> OrderFill:
        fill = await super().wait_for_order(order_id, timeout_secs=timeout_secs)
        if fill.filled_quantity and not fill.status.is_final:
            return fill.model_copy(update={"status": OrderStatus.FILLED, "remaining_quantity": 0})
        return fill


class _WaitOutlivesConnection(InMemoryBroker):
    async def wait_for_order(self, order_id: str, *, timeout_secs: float) -> OrderFill:
        try:
            return await super().wait_for_order(order_id, timeout_secs=timeout_secs)
        except BrokerConnectionError:
            await asyncio.sleep(timeout_secs)  # waits out its timeout, connection or not
            return OrderFill(order_id=order_id, status=OrderStatus.WORKING)


class _ConnectSwallowsFailure(InMemoryBroker):
    async def connect(self) -> bool:
        try:
            return await super().connect()
        except BrokerConnectionError:
            return False


class _SharedPriceRequest(InMemoryBroker):
    """Keeps the symbols of the request under way on the instance, like a single request
    slot: a second request started meanwhile answers for the first one's symbols."""

    async def get_multiple_market_prices(
        self, symbols: Sequence[str], *, use_cache: bool = False
    ) -> list[ContractPrice]:
        self._asked = list(symbols)
        await asyncio.sleep(0)
        return await super().get_multiple_market_prices(self._asked)


class _ForgetsRefsAfterReconnect(InMemoryBroker):
    reconnected = False

    async def connect(self) -> bool:
        self.reconnected = self.calls["connect"] > 0
        return await super().connect()

    async def get_open_orders(self, account_id: str) -> list[OpenOrder]:
        orders = await super().get_open_orders(account_id)
        if self.reconnected:
            return [o.model_copy(update={"order_ref": None}) for o in orders]
        return orders


class _PositionsWaitClaimsSuccess(InMemoryBroker):
    async def wait_for_positions(
        self, account_id: str, expected: Mapping[str, Decimal], *, timeout_secs: float
    ) -> dict[str, Decimal]:
        return dict(expected)


class _PositionsWaitAnyAccount(InMemoryBroker):
    async def wait_for_positions(
        self, account_id: str, expected: Mapping[str, Decimal], *, timeout_secs: float
    ) -> dict[str, Decimal]:
        if account_id not in self.exchange.accounts:
            return {s: Decimal(0) for s in expected}
        return await super().wait_for_positions(account_id, expected, timeout_secs=timeout_secs)


class _WarningsNeverDrained(InMemoryBroker):
    def take_warnings(self) -> list[str]:
        return ["BND: no bid/ask quote"]


class _RecordsByPrefix(InMemoryBroker):
    async def get_orders_by_ref(
        self, account_id: str, order_ref: str, *, since: datetime | None = None
    ) -> list[OrderRecord]:
        return [
            o.broker_record()
            for o in self.exchange.orders.values()
            if o.account_id == account_id and (o.order_ref or "").startswith(order_ref[:-1])
        ]


class _RecordsWithoutFills(InMemoryBroker):
    async def get_orders_by_ref(
        self, account_id: str, order_ref: str, *, since: datetime | None = None
    ) -> list[OrderRecord]:
        records = await super().get_orders_by_ref(account_id, order_ref, since=since)
        return [
            r.model_copy(update={"filled_quantity": 0, "avg_fill_price": None}) for r in records
        ]


class _RecordsForgetDoneOrders(InMemoryBroker):
    async def get_orders_by_ref(
        self, account_id: str, order_ref: str, *, since: datetime | None = None
    ) -> list[OrderRecord]:
        records = await super().get_orders_by_ref(account_id, order_ref, since=since)
        return [r for r in records if not r.status.is_final]


class _PermIdIsOrderId(InMemoryBroker):
    async def get_orders_by_ref(
        self, account_id: str, order_ref: str, *, since: datetime | None = None
    ) -> list[OrderRecord]:
        records = await super().get_orders_by_ref(account_id, order_ref, since=since)
        return [r.model_copy(update={"perm_id": "1"}) for r in records]


class _RecordsLostOnReconnect(InMemoryBroker):
    async def connect(self) -> bool:
        if self.calls["connect"]:
            self.exchange.orders.clear()
        return await super().connect()


# (broken client, the suite test that must catch it, ConformanceEnv changes)
_CASES: list[tuple[Callable[[FakeExchange], InMemoryBroker], str, dict[str, object]]] = [
    (
        _CancelAllReturnsNothing,
        "test_cancel_all_orders_cancels_every_resting_order_and_returns_ids",
        {},
    ),
    (_UnknownOrderRaises, "test_get_order_status_unknown_id_returns_not_found", {}),
    (_ValuesAtCost, "test_snapshot_positions_are_valued_at_market_price", {}),
    (_UnknownAccountEmpty, "test_snapshot_unknown_account_raises_invalid_input_error", {}),
    (_ForgetsOrderRef, "test_limit_buy_far_below_bid_rests_and_is_listed_with_order_ref", {}),
    (_ReusesOrderIds, "test_resting_orders_get_unique_string_ids", {}),
    (_UnsignedSellFill, "test_market_sell_after_buy_fills_and_restores_position", {}),
    (_SortsPrices, "test_prices_several_symbols_come_back_in_request_order", {}),
    (_SkipsUnknownSymbols, "test_prices_unknown_symbol_raises_broker_api_error_naming_it", {}),
    (_IgnoresCancel, "test_cancel_order_resting_limit_ends_cancelled_and_unlisted", {}),
    (_AlwaysOpen, "test_trading_hours_status_matches_env_market_open", {"market_open": False}),
    (_DisconnectTwiceRaises, "test_disconnect_twice_does_not_raise", {}),
    (_Hangs, "test_snapshot_known_account_has_its_id_and_decimal_money", {}),
    (_ForgetsTodaysBuys, "test_symbols_bought_today_include_a_filled_buy_only", {}),
    (_ListsEveryKnownSymbolAsBought, "test_symbols_bought_today_include_a_filled_buy_only", {}),
    (
        _TodaysBuysOfAnyAccount,
        "test_symbols_bought_today_unknown_account_raises_invalid_input_error",
        {},
    ),
    (_HalfFills, "test_market_buy_fills_completely_and_grows_position", {}),
    (
        _RejectionLooksWorking,
        "test_order_rejected_by_broker_is_reported_rejected_and_changes_nothing",
        {},
    ),
    (
        _PartialLooksFilled,
        "test_partial_fill_reports_the_filled_part_and_the_rest_keeps_working",
        {},
    ),
    (
        _WaitOutlivesConnection,
        "test_connection_lost_while_waiting_for_an_order_raises_at_once",
        {},
    ),
    (
        _ConnectSwallowsFailure,
        "test_connect_to_unreachable_broker_raises_broker_connection_error_in_time",
        {},
    ),
    (_SharedPriceRequest, "test_concurrent_calls_answer_as_the_same_calls_one_by_one", {}),
    (
        _ForgetsRefsAfterReconnect,
        "test_order_ref_and_id_of_a_resting_order_survive_a_reconnect",
        {},
    ),
    (
        _PositionsWaitClaimsSuccess,
        "test_wait_for_positions_never_shown_returns_what_it_saw_at_the_timeout",
        {},
    ),
    (
        _PositionsWaitAnyAccount,
        "test_wait_for_positions_unknown_account_raises_invalid_input_error",
        {},
    ),
    (_WarningsNeverDrained, "test_take_warnings_returns_sentences_once", {}),
    (_RecordsByPrefix, "test_orders_by_ref_matches_the_tag_exactly", {}),
    (_RecordsWithoutFills, "test_orders_by_ref_filled_buy_reports_fill_and_permanent_id", {}),
    (_RecordsForgetDoneOrders, "test_orders_by_ref_lists_resting_order_then_its_cancel", {}),
    (_PermIdIsOrderId, "test_orders_by_ref_sell_is_signed_and_listed_after_its_buy", {}),
    (_RecordsLostOnReconnect, "test_orders_by_ref_same_after_reconnecting", {}),
    (
        _SendsUndeclaredTypesAsMarket,
        "test_place_order_of_an_undeclared_type_raises_invalid_input_error",
        {"order_type": "ADAPTIVE"},
    ),
    (_MocFillsAtOnce, "test_moc_buy_rests_in_the_session_listed_as_moc", {}),
    (_MidpriceAsMarket, "test_midprice_buy_fills_between_bid_and_ask", {}),
    (_CommissionUnknown, "test_filled_market_order_reports_its_commission", {}),
]


def _exchange(*, market_open: bool) -> FakeExchange:
    return FakeExchange(
        accounts={"DU1": FakeAccount(cash=Decimal("5000"), positions={"VTI": 3})},
        quotes=[
            ContractPrice(symbol="SPY", bid=Decimal("99.99"), ask=Decimal("100.01")),
            ContractPrice(symbol="VTI", bid=Decimal("230.10"), ask=Decimal("230.14")),
            ContractPrice(symbol="BND", last=Decimal("72.345"), close=Decimal("72.30")),
        ],
        market_open=market_open,
    )


def _env(client: InMemoryBroker, changes: dict[str, object]) -> ConformanceEnv:
    env = ConformanceEnv(
        client=client,
        account_id="DU1",
        buy_symbol="SPY",
        unknown_symbol="ZZZQX",
        unknown_account_id="DU9",
        extra_symbols=("VTI", "BND"),
        faults=fake_faults(client),
    )
    return replace(env, **changes)  # type: ignore[arg-type]


async def _run(
    make: Callable[[FakeExchange], InMemoryBroker], test_name: str, changes: dict[str, object]
) -> BaseException | None:
    """Run one suite test; return how it failed, or None when it passed."""
    exchange = _exchange(market_open=bool(changes.get("market_open", True)))
    client = make(exchange)
    client.latency_secs, latency = 0, client.latency_secs
    await client.connect()
    client.latency_secs = latency
    test = getattr(_Suite(), test_name)
    env_fields = {f.name for f in fields(ConformanceEnv)}
    arguments = {k: v for k, v in changes.items() if k not in env_fields}
    changes = {k: v for k, v in changes.items() if k in env_fields}
    try:
        await test(_env(client, changes), **arguments)
    except (Exception, pytest.fail.Exception) as failure:
        return failure
    finally:
        client.latency_secs = 0
        await InMemoryBroker.disconnect(client)
    return None


_IDS = [f"{make.__name__}-{name.removeprefix('test_')[:40]}" for make, name, _ in _CASES]


@pytest.mark.parametrize(("make", "test_name", "changes"), _CASES, ids=_IDS)
async def test_suite_test_fails_for_broker_breaking_its_guarantee(
    make: Callable[[FakeExchange], InMemoryBroker], test_name: str, changes: dict[str, object]
) -> None:
    failure = await _run(make, test_name, changes)
    assert failure is not None, f"{test_name} passed a broker that breaks it ({make.__name__})"


@pytest.mark.parametrize(("make", "test_name", "changes"), _CASES, ids=_IDS)
async def test_suite_test_passes_for_unbroken_fake(
    make: Callable[[FakeExchange], InMemoryBroker], test_name: str, changes: dict[str, object]
) -> None:
    assert await _run(InMemoryBroker, test_name, changes) is None


# ------------------------------------------------------------------------------------------
# the guard against a connector's test class overriding the suite's tests
# ------------------------------------------------------------------------------------------


def test_subclass_overriding_a_suite_test_without_skip_reason_is_refused() -> None:
    with pytest.raises(TypeError, match=r"overrides conformance tests \['test_disconnect_twice"):

        class _Dodges(BrokerClientConformance):
            async def test_disconnect_twice_does_not_raise(self, env: ConformanceEnv) -> None:
                pass


def test_subclass_overriding_the_guard_itself_is_refused() -> None:
    with pytest.raises(TypeError, match="test_no_overrides_DO_NOT_OVERRIDE"):

        class _Dodges(BrokerClientConformance):
            async def test_no_overrides_DO_NOT_OVERRIDE(self) -> None:
                pass


def test_subclass_removing_a_suite_test_is_refused() -> None:
    with pytest.raises(TypeError, match="test_prices_no_symbols_returns_empty_list"):

        class _Dodges(BrokerClientConformance):
            test_prices_no_symbols_returns_empty_list = None  # type: ignore[assignment]


@pytest.mark.parametrize("reason", ["", "   "])
def test_subclass_skipping_a_suite_test_without_a_reason_is_refused(reason: str) -> None:
    with pytest.raises(TypeError, match="test_disconnect_twice_does_not_raise"):

        class _Dodges(BrokerClientConformance):
            @pytest.mark.skip(reason=reason)
            async def test_disconnect_twice_does_not_raise(self, env: ConformanceEnv) -> None:
                pass


def test_subclass_skipping_a_suite_test_with_a_reason_is_accepted() -> None:
    class _Honest(BrokerClientConformance):
        @pytest.mark.skip(reason="this broker keeps the session open on disconnect")
        async def test_disconnect_twice_does_not_raise(self, env: ConformanceEnv) -> None:
            pass

    assert overridden_tests(_Honest, BrokerClientConformance) == []
