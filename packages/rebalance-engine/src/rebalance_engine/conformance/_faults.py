"""Rebalancer suite: what a run does when the broker refuses, fills part, goes away or is
closed. No buy may be placed on money a failed sell did not raise."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from broker_connector_base import OrderStatus
from broker_connector_base.conformance import maybe_await

from rebalance_engine.conformance._scenario import BuildBroker
from rebalance_engine.conformance._support import STANDARD, RebalancerSupport

__all__ = ["FaultTests"]

# The account's own drift band, for the convergence check after a broken run: the first run's
# orders may have filled at the broker after the connection broke, and the second run starts
# from wherever that left the account.
BANDED = {"drift_band_percent": Decimal("0.5")}


class FaultTests(RebalancerSupport):
    """Partial fills, rejections, a lost connection, a closed market."""

    async def test_run_with_a_partially_filled_sell_cancels_the_rest_and_buys_nothing(
        self, build_broker: BuildBroker
    ) -> None:
        broker = await build_broker(
            dataclasses.replace(STANDARD, partial_fill_symbols=frozenset({"GLD"}))
        )
        rebalancer = self.make_rebalancer(
            broker.client, allocation_source=self.source(), fill_timeout_secs=1.0
        )
        result = await self.rebalance(rebalancer, self.config(broker))

        assert result.success is False
        assert result.error is not None
        assert "no buys were placed" in result.error
        gld = next(t for t in result.orders if t.symbol == "GLD")
        assert gld.filled_quantity is not None
        assert -20 < gld.filled_quantity < 0, gld
        assert f"{-gld.filled_quantity} of 20 filled" in result.error
        assert gld.status is OrderStatus.CANCELLED, gld
        assert [o for o in broker.orders() if o.quantity > 0] == []
        assert not [o for o in broker.orders() if o.working], "the unfilled rest was cancelled"
        assert await self.bounded(broker.client.get_open_orders(broker.account_id)) == []

    async def test_run_with_a_rejected_sell_reports_it_and_buys_nothing(
        self, build_broker: BuildBroker
    ) -> None:
        broker = await build_broker(
            dataclasses.replace(STANDARD, reject_symbols=frozenset({"TLT"}))
        )
        result = await self.rebalance(
            self.make_rebalancer(broker.client, allocation_source=self.source()),
            self.config(broker),
        )

        assert result.success is False
        assert result.error is not None
        assert "TLT" in result.error
        tlt = next(t for t in result.orders if t.symbol == "TLT")
        assert tlt.status is OrderStatus.REJECTED, tlt
        assert not tlt.filled_quantity
        assert [o for o in broker.orders() if o.quantity > 0] == []
        assert (await self.snapshot(broker)).position("TLT") is not None

    async def test_run_losing_the_connection_fails_cleanly_and_the_next_run_converges(
        self, build_broker: BuildBroker
    ) -> None:
        broker = await build_broker(dataclasses.replace(STANDARD, drop_connection_after_orders=1))
        result = await self.rebalance(
            self.make_rebalancer(broker.client, allocation_source=self.source()),
            self.config(broker),
        )

        assert result.success is False
        assert result.error is not None
        assert "BrokerConnectionError" in result.error
        received = broker.orders()
        assert [o for o in received if o.quantity > 0] == []
        # Every order that reached the broker is in the result, for the journal.
        assert {o.symbol for o in received} <= {t.symbol for t in result.orders}

        await maybe_await(broker.clear_faults())
        if not broker.client.is_connected():
            await self.bounded(broker.client.connect())
        config = self.config(broker, **BANDED)
        retry = await self.rebalance(
            self.make_rebalancer(broker.client, allocation_source=self.source()), config
        )
        assert retry.success, retry.error
        preview = await self.preview(
            self.make_rebalancer(broker.client, allocation_source=self.source()), config
        )
        assert preview.proposed_trades == []

    async def test_run_outside_trading_hours_places_nothing_and_says_when_it_opens(
        self, build_broker: BuildBroker
    ) -> None:
        broker = await build_broker(dataclasses.replace(STANDARD, market_open=False))
        result = await self.rebalance(
            self.make_rebalancer(broker.client, allocation_source=self.source()),
            self.config(broker),
        )

        assert result.success is False
        assert result.error is not None
        assert "market closed" in result.error
        assert "next open" in result.error
        assert "next open unknown" not in result.error
        assert result.orders == []
        assert broker.orders() == []
