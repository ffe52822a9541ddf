"""Settings, the ``build_broker`` fixture placeholder and helpers of the rebalancer suite."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

import pytest
from broker_connector_base import (
    AccountConfig,
    AccountSnapshot,
    BaseRebalancer,
    BrokerClient,
    CalculateRebalanceResult,
    RebalanceResult,
)
from broker_connector_base.conformance import overridden_tests

from rebalance_engine.conformance._scenario import BuildBroker, RebalanceScenario, ScenarioBroker
from rebalance_engine.rebalancer import Rebalancer
from rebalance_engine.replacement_service import Replacement, ReplacementService
from rebalance_engine.sources import AllocationSource, StaticAllocationSource

__all__ = [
    "IRA",
    "STANDARD",
    "STRATEGY",
    "WEIGHTS",
    "RebalancerSupport",
    "overridden_tests",
    "value_of",
]

_T = TypeVar("_T")

STRATEGY = "etf-blend"
WEIGHTS: Mapping[str, str] = {"SPY": "0.1", "AGG": "0.4", "QQQ": "0.3", "IEF": "0.2"}
"""The standard strategy: SPY is held and kept in part, TLT and GLD are held and dropped."""

STANDARD = RebalanceScenario(
    cash=Decimal("100000.00"), positions={"SPY": 50, "TLT": 100, "GLD": 20}
)
"""100,000 cash, 50 SPY, 100 TLT, 20 GLD (the IB simulator's example account)."""

IRA = ReplacementService(
    {
        "ira": [
            Replacement(source="DBC", target="PDBC", scale=Decimal(1)),
            Replacement(source="GLD", target="IAU", scale=Decimal("0.5")),
        ]
    }
)
"""Set ``ira``: PDBC for DBC; IAU for GLD at half the weight (the other half stays cash)."""


def value_of(snapshot: AccountSnapshot, symbol: str) -> Decimal:
    """The market value of ``symbol`` in ``snapshot`` (0 when not held)."""
    position = snapshot.position(symbol)
    return position.market_value if position is not None else Decimal(0)


class RebalancerSupport:
    """The ``build_broker`` fixture to override, the settings, and the helpers."""

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    run_timeout_secs: ClassVar[float] = 60.0
    """Bound on one preview or rebalance (a run that takes longer fails the test)."""

    fill_timeout_secs: ClassVar[float] = 10.0
    """The rebalancer's wait for fills per phase (orders still working then are cancelled)."""

    cancel_timeout_secs: ClassVar[float] = 5.0
    """The rebalancer's bound on cancelling orders."""

    settle_timeout_secs: ClassVar[float] = 5.0
    """The rebalancer's wait for positions to show the fills."""

    @pytest.fixture
    def build_broker(self) -> BuildBroker:
        """Override in the subclass: a factory of brokers in a scenario's state.

        The fixture cleans up every broker it built (disconnects, stops simulators).
        """
        raise NotImplementedError(f"{type(self).__name__} must override the `build_broker` fixture")

    def make_rebalancer(
        self,
        client: BrokerClient,
        *,
        allocation_source: AllocationSource,
        replacement_service: ReplacementService | None = None,
        **options: Any,
    ) -> BaseRebalancer:
        """The rebalancer under test (override to test a connector's own subclass)."""
        options.setdefault("fill_timeout_secs", self.fill_timeout_secs)
        options.setdefault("cancel_timeout_secs", self.cancel_timeout_secs)
        options.setdefault("settle_timeout_secs", self.settle_timeout_secs)
        return Rebalancer(
            client,
            allocation_source=allocation_source,
            replacement_service=replacement_service,
            **options,
        )

    # ------------------------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------------------------

    @staticmethod
    def config(broker: ScenarioBroker, **changes: Any) -> AccountConfig:
        """The scenario account's configuration: the standard strategy, 1 % reserve."""
        fields: dict[str, Any] = {
            "account_id": broker.account_id,
            "type": "paper",
            "cash_reserve_percent": Decimal(1),
            # The scenarios charge no commission; plans must not count on one either.
            "commission_schedule": "zero",
        }
        if "strategies" not in changes:
            fields["strategy_name"] = STRATEGY
        return AccountConfig.model_validate({**fields, **changes})

    @staticmethod
    def source(**strategies: Mapping[str, str]) -> StaticAllocationSource:
        """Allocations per strategy; the standard strategy when none is given."""
        return StaticAllocationSource(dict(strategies) or {STRATEGY: WEIGHTS})

    async def bounded(self, awaitable: Awaitable[_T]) -> _T:
        """Await a preview, a run or a broker call within ``run_timeout_secs``."""
        try:
            return await asyncio.wait_for(awaitable, self.run_timeout_secs)
        except TimeoutError:
            pytest.fail(f"did not finish within {self.run_timeout_secs} s")

    async def rebalance(self, rebalancer: BaseRebalancer, config: AccountConfig) -> RebalanceResult:
        """``rebalance_account``, bounded."""
        return await self.bounded(rebalancer.rebalance_account(config))

    async def preview(
        self, rebalancer: BaseRebalancer, config: AccountConfig
    ) -> CalculateRebalanceResult:
        """``calculate_rebalance``, bounded."""
        return await self.bounded(rebalancer.calculate_rebalance(config))

    async def snapshot(self, broker: ScenarioBroker) -> AccountSnapshot:
        """The account now, as the connector reports it."""
        return await self.bounded(broker.client.get_account_snapshot(broker.account_id))

    @staticmethod
    def near_target(value: Decimal, target: Decimal, price: Decimal) -> bool:
        """``value`` is ``target`` within the 0.5 % buy-price buffer plus one share."""
        return abs(value - target) <= target * Decimal("0.006") + price
