"""The rebalancer conformance suite fails rebalancers and brokers that break its guarantees.

Each case breaks one guarantee (a broker subclass of the fake, a rebalancer subclass, or one
engine function replaced through ``monkeypatch``) and runs the one suite test that guards it;
the test must fail. The unbroken engine on the fake passes the same tests
(``test_conformance_fake.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from broker_connector_base import (
    AccountConfig,
    AllocationItem,
    BaseRebalancer,
    BrokerClient,
    OrderResult,
    OrderSpec,
    TradingHoursStatus,
)
from broker_connector_base.fake import InMemoryBroker
from broker_connector_base.order_spec import MARKET
from rebalance_engine import Rebalancer, ReplacementService
from rebalance_engine import rebalancer as rebalancer_module
from rebalance_engine import targets as targets_module
from rebalance_engine.conformance import (
    BuildBroker,
    RebalancerConformance,
    RebalanceScenario,
    ScenarioBroker,
    fake_scenario_broker,
)
from rebalance_engine.sources import AllocationSource

pytestmark = pytest.mark.timeout(60)


class _Suite(RebalancerConformance):
    """Not collected (no ``Test`` prefix): driven by hand below."""

    fill_timeout_secs = 1.0
    cancel_timeout_secs = 1.0
    settle_timeout_secs = 0.5
    options: dict[str, Any] = {}  # noqa: RUF012  (set per case on a subclass)
    rebalancer_type: type[Rebalancer] = Rebalancer

    def make_rebalancer(
        self,
        client: BrokerClient,
        *,
        allocation_source: AllocationSource,
        replacement_service: ReplacementService | None = None,
        **options: Any,
    ) -> BaseRebalancer:
        options = {
            "fill_timeout_secs": self.fill_timeout_secs,
            "cancel_timeout_secs": self.cancel_timeout_secs,
            "settle_timeout_secs": self.settle_timeout_secs,
            **options,
            **self.options,
        }
        return self.rebalancer_type(
            client,
            allocation_source=allocation_source,
            replacement_service=replacement_service,
            **options,
        )


# ------------------------------------------------------------------------------------------
# broken rebalancers
# ------------------------------------------------------------------------------------------


class _BuysWithTheSells(Rebalancer):
    """Places a round's buys together with its sells instead of after their fills."""

    async def _sell_then_buy(self, config: AccountConfig, goal: Any, plan: Any, run: Any) -> None:
        await self._runner(config).place_and_wait(config.account_id, plan.trades, run)


class _NoReserve(Rebalancer):
    """Plans as if the account had no cash reserve."""

    async def _goal(self, config: AccountConfig) -> Any:
        return await super()._goal(config.model_copy(update={"cash_reserve_percent": Decimal(0)}))


# ------------------------------------------------------------------------------------------
# broken brokers (on the scenario's fake exchange)
# ------------------------------------------------------------------------------------------


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


class _ForgetsTodaysBuys(InMemoryBroker):
    async def get_symbols_bought_today(self, account_id: str) -> frozenset[str]:
        await super().get_symbols_bought_today(account_id)
        return frozenset()


class _CancelAllDoesNothing(InMemoryBroker):
    async def cancel_all_orders(self, account_id: str, *, timeout_secs: float) -> list[str]:
        return []


class _AlwaysOpen(InMemoryBroker):
    async def get_trading_hours_status(self, symbols: Sequence[str]) -> TradingHoursStatus:
        status = await super().get_trading_hours_status(symbols)
        return status.model_copy(update={"is_open": True, "closed_symbols": [], "next_open": None})


def _on(broker_type: type[InMemoryBroker]) -> BuildBroker:
    """The scenario's fake exchange, traded through ``broker_type``."""

    async def build(scenario: RebalanceScenario) -> ScenarioBroker:
        built = await fake_scenario_broker(scenario)
        assert isinstance(built.client, InMemoryBroker)
        client = broker_type(built.client.exchange)
        await client.connect()
        return replace(built, client=client)

    return build


# ------------------------------------------------------------------------------------------
# broken engine functions
# ------------------------------------------------------------------------------------------


def _ignore_incomplete_orders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rebalancer_module, "incomplete", lambda trades: [])


def _ignore_replacements(monkeypatch: pytest.MonkeyPatch) -> None:
    def apply(
        self: ReplacementService, items: Sequence[AllocationItem], name: object
    ) -> list[AllocationItem]:
        return list(items)

    monkeypatch.setattr(ReplacementService, "apply", apply)


def _equal_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    blend = targets_module.blend

    def equal(weights: dict[str, Decimal], documents: Any) -> Any:
        return blend({name: Decimal(1) / len(weights) for name in weights}, documents)

    monkeypatch.setattr(targets_module, "blend", equal)


_Case = tuple[str, str, BuildBroker, dict[str, Any], Callable[[pytest.MonkeyPatch], None] | None]

_CASES: list[_Case] = [
    (
        "buys-with-sells",
        "test_run_fills_every_sell_before_the_first_buy_is_placed",
        fake_scenario_broker,
        {"rebalancer_type": _BuysWithTheSells},
        None,
    ),
    (
        "forgets-order-ref",
        "test_run_tags_every_order_with_its_run_id_and_journals_it_before_and_after",
        _on(_ForgetsOrderRef),
        {},
        None,
    ),
    (
        "no-further-rounds",
        "test_run_then_preview_and_second_run_find_nothing_to_do",
        fake_scenario_broker,
        {"options": {"extra_rounds": 0}},
        None,
    ),
    (
        "no-reserve",
        "test_run_keeps_the_cash_reserve_in_cash",
        fake_scenario_broker,
        {"rebalancer_type": _NoReserve},
        None,
    ),
    (
        "forgets-todays-buys",
        "test_run_and_preview_never_sell_shares_bought_earlier_today",
        _on(_ForgetsTodaysBuys),
        {},
        None,
    ),
    (
        "cancel-all-does-nothing",
        "test_run_cancels_the_accounts_open_orders_before_trading",
        _on(_CancelAllDoesNothing),
        {},
        None,
    ),
    (
        "partial-fill-ignored",
        "test_run_with_a_partially_filled_sell_cancels_the_rest_and_buys_nothing",
        fake_scenario_broker,
        {},
        _ignore_incomplete_orders,
    ),
    (
        "rejection-ignored",
        "test_run_with_a_rejected_sell_reports_it_and_buys_nothing",
        fake_scenario_broker,
        {},
        _ignore_incomplete_orders,
    ),
    (
        "hours-always-open",
        "test_run_outside_trading_hours_places_nothing_and_says_when_it_opens",
        _on(_AlwaysOpen),
        {},
        None,
    ),
    (
        "replacements-ignored",
        "test_run_with_replacement_set_trades_replacements_and_keeps_scaled_rest_in_cash",
        fake_scenario_broker,
        {},
        _ignore_replacements,
    ),
    (
        "strategy-weights-ignored",
        "test_run_blends_two_strategies_by_weight_and_attributes_every_symbol",
        fake_scenario_broker,
        {},
        _equal_weights,
    ),
]


@pytest.mark.parametrize(
    ("name", "test_name", "build", "settings", "patch"), _CASES, ids=[c[0] for c in _CASES]
)
async def test_suite_test_fails_for_a_rebalancer_or_broker_breaking_its_guarantee(
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    test_name: str,
    build: BuildBroker,
    settings: dict[str, Any],
    patch: Callable[[pytest.MonkeyPatch], None] | None,
) -> None:
    suite = type(f"_Broken_{name}", (_Suite,), settings)()
    if patch is not None:
        patch(monkeypatch)
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        await getattr(suite, test_name)(build)


@pytest.mark.parametrize("test_name", sorted({c[1] for c in _CASES}))
async def test_suite_test_passes_for_the_unbroken_engine_on_the_fake(test_name: str) -> None:
    await getattr(_Suite(), test_name)(fake_scenario_broker)


def test_subclass_overriding_a_rebalancer_suite_test_without_skip_reason_is_refused() -> None:
    with pytest.raises(TypeError, match="test_run_keeps_the_cash_reserve_in_cash"):

        class _Dodges(RebalancerConformance):
            async def test_run_keeps_the_cash_reserve_in_cash(
                self, build_broker: BuildBroker
            ) -> None:
                pass


def test_subclass_skipping_a_rebalancer_suite_test_with_a_reason_is_accepted() -> None:
    class _Honest(RebalancerConformance):
        @pytest.mark.skip(reason="the backtest broker has no trading hours")
        async def test_run_outside_trading_hours_places_nothing_and_says_when_it_opens(
            self, build_broker: BuildBroker
        ) -> None:
            pass

    assert _Honest.test_run_keeps_the_cash_reserve_in_cash is (
        RebalancerConformance.test_run_keeps_the_cash_reserve_in_cash
    )
