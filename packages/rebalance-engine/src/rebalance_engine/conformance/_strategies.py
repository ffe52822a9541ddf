"""Rebalancer suite: replacement sets and several strategies per account, with attribution."""

from __future__ import annotations

from decimal import Decimal

from broker_connector_base import StrategyAttribution

from rebalance_engine.conformance._scenario import BuildBroker
from rebalance_engine.conformance._support import (
    IRA,
    STANDARD,
    STRATEGY,
    RebalancerSupport,
    value_of,
)

__all__ = ["StrategyTests"]

_ALONE = StrategyAttribution(shares={STRATEGY: Decimal(1)})
_NOBODY = StrategyAttribution()


class StrategyTests(RebalancerSupport):
    """Targets: replacements keep the scaled rest in cash; blends weight each strategy; every
    plan line and trade says which strategies it is for."""

    async def test_run_with_replacement_set_trades_replacements_and_keeps_scaled_rest_in_cash(
        self, build_broker: BuildBroker
    ) -> None:
        broker = await build_broker(STANDARD)
        source = self.source(**{STRATEGY: {"SPY": "0.5", "DBC": "0.3", "GLD": "0.2"}})
        config = self.config(broker, replacement_set="ira")
        before = await self.snapshot(broker)
        result = await self.rebalance(
            self.make_rebalancer(broker.client, allocation_source=source, replacement_service=IRA),
            config,
        )

        assert result.success, result.error
        after = await self.snapshot(broker)
        assert {p.symbol for p in after.positions} == {"SPY", "PDBC", "IAU"}
        investable = before.total_value * Decimal("0.99")
        assert self.near_target(
            value_of(after, "PDBC"), investable * Decimal("0.3"), Decimal("13.42")
        )
        assert self.near_target(
            value_of(after, "IAU"), investable * Decimal("0.1"), Decimal("49.92")
        )
        # The reserve and the unused half of GLD's 20 % stay in cash.
        kept = before.total_value * Decimal("0.01") + investable * Decimal("0.1")
        assert abs(after.cash_balance - kept) <= investable * Decimal("0.006") + 600
        lines = {line.symbol: line for line in result.plan}
        assert lines["PDBC"].attribution == _ALONE
        assert lines["GLD"].attribution == _NOBODY  # replaced: no strategy targets GLD itself
        assert {t.symbol: t.attribution for t in result.orders if t.symbol == "PDBC"} == {
            "PDBC": _ALONE
        }

    async def test_run_blends_two_strategies_by_weight_and_attributes_every_symbol(
        self, build_broker: BuildBroker
    ) -> None:
        broker = await build_broker(STANDARD)
        source = self.source(
            growth={"SPY": "0.5", "AGG": "0.5"}, income={"SPY": "0.25", "IEF": "0.75"}
        )
        config = self.config(
            broker,
            strategies=[{"name": "growth", "weight": "0.6"}, {"name": "income", "weight": "0.4"}],
        )
        before = await self.snapshot(broker)
        result = await self.rebalance(
            self.make_rebalancer(broker.client, allocation_source=source), config
        )

        assert result.success, result.error
        after = await self.snapshot(broker)
        investable = before.total_value * Decimal("0.99")
        # SPY 0.6 * 0.5 + 0.4 * 0.25 = 0.4; AGG 0.6 * 0.5 = 0.3; IEF 0.4 * 0.75 = 0.3.
        for symbol, weight, ask in (
            ("SPY", "0.4", "589.12"),
            ("AGG", "0.3", "99.03"),
            ("IEF", "0.3", "95.42"),
        ):
            assert self.near_target(
                value_of(after, symbol), investable * Decimal(weight), Decimal(ask)
            ), symbol
        assert {p.symbol for p in after.positions} == {"SPY", "AGG", "IEF"}
        lines = {line.symbol: line for line in result.plan}
        assert lines["SPY"].attribution == StrategyAttribution(
            shares={"growth": Decimal("0.75"), "income": Decimal("0.25")}
        )
        assert lines["AGG"].attribution == StrategyAttribution(shares={"growth": Decimal(1)})
        assert lines["IEF"].attribution == StrategyAttribution(shares={"income": Decimal(1)})
        assert lines["TLT"].attribution == _NOBODY
        tlt = next(d for d in result.position_deltas if d.symbol == "TLT")
        assert "no strategy of the account targets it" in tlt.message
        for trade in result.orders:
            assert trade.attribution == lines[trade.symbol].attribution, trade

    async def test_preview_of_a_blend_attributes_a_replacement_to_the_source_strategies(
        self, build_broker: BuildBroker
    ) -> None:
        broker = await build_broker(STANDARD)
        source = self.source(core={"SPY": "1"}, real={"SPY": "0.5", "DBC": "0.5"})
        config = self.config(
            broker,
            strategies=[{"name": "core", "weight": "0.5"}, {"name": "real", "weight": "0.5"}],
            replacement_set="ira",
        )
        preview = await self.preview(
            self.make_rebalancer(broker.client, allocation_source=source, replacement_service=IRA),
            config,
        )

        lines = {line.symbol: line for line in preview.plan}
        assert "DBC" not in lines
        assert lines["PDBC"].attribution == StrategyAttribution(shares={"real": Decimal(1)})
        spy = lines["SPY"].attribution
        assert spy is not None
        assert spy.strategies == ("core", "real")
        # core holds 0.5 of the account in SPY, real 0.25: two thirds and one third.
        assert abs(spy.shares["core"] - Decimal(2) / 3) < Decimal("1e-20")
        assert sum(spy.shares.values()) == 1
        pdbc = next(t for t in preview.proposed_trades if t.symbol == "PDBC")
        assert pdbc.attribution == lines["PDBC"].attribution
        assert broker.orders() == []
