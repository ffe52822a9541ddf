"""Rebalancer suite: what a run does on a healthy broker."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from broker_connector_base import OrderSpec, OrderStatus, Trade

from rebalance_engine.conformance._scenario import BuildBroker
from rebalance_engine.conformance._support import STANDARD, RebalancerSupport

__all__ = ["RunTests"]


class RunTests(RebalancerSupport):
    """Sell first, run-id tags, the journal callback, the reserve, the fixed point, no day
    trades, cancelling stale orders."""

    async def test_run_fills_every_sell_before_the_first_buy_is_placed(
        self, build_broker: BuildBroker
    ) -> None:
        # Sells take a moment to fill, so buys placed without waiting would show.
        broker = await build_broker(dataclasses.replace(STANDARD, fill_delay_secs=0.05))
        events: list[Trade] = []
        rebalancer = self.make_rebalancer(
            broker.client, allocation_source=self.source(), on_order=events.append
        )
        result = await self.rebalance(rebalancer, self.config(broker))

        assert result.success, result.error
        first_buy = next(i for i, t in enumerate(events) if t.quantity > 0)
        before_buys = events[:first_buy]
        # The first buy event is its intent (journalled before it is sent): by then every
        # sell's order must be final.
        sells = {t.order_id for t in before_buys if t.quantity < 0 and t.order_id}
        filled = {
            t.order_id for t in before_buys if t.quantity < 0 and t.status and t.status.is_final
        }
        assert len(sells) == 3
        assert filled == sells, [(t.symbol, t.status) for t in events]
        received = broker.orders()
        assert {o.symbol for o in received[:3]} == {"SPY", "TLT", "GLD"}
        assert all(o.quantity < 0 for o in received[:3])
        assert {o.symbol for o in received if o.quantity > 0} >= {"AGG", "QQQ", "IEF"}

    async def test_run_tags_every_order_with_its_run_id_and_journals_it_before_and_after(
        self, build_broker: BuildBroker
    ) -> None:
        broker = await build_broker(STANDARD)
        events: list[Trade] = []
        rebalancer = self.make_rebalancer(
            broker.client,
            allocation_source=self.source(),
            run_id="run-conf-1",
            on_order=events.append,
        )
        result = await self.rebalance(rebalancer, self.config(broker))

        assert result.success, result.error
        received = broker.orders()
        assert len(received) == len(result.orders) > 0
        assert {o.order_ref for o in received} == {"run-conf-1"}
        # Before it is sent (the intent: no id, no status), when acknowledged, when final.
        assert len(events) == 3 * len(result.orders)
        intents = [t for t in events if t.order_id is None]
        assert [t.status for t in intents] == [None] * len(result.orders)
        for trade in result.orders:
            journalled = [e for e in events if e.order_id == trade.order_id]
            first = events.index(journalled[0])
            assert events[first - 1].order_id is None  # its intent came just before
            assert events[first - 1].symbol == trade.symbol
        for trade in result.orders:
            assert trade.status is OrderStatus.FILLED, trade
            assert trade.filled_quantity == trade.quantity
            assert trade.avg_fill_price is not None
        assert len({t.order_id for t in result.orders}) == len(result.orders)

    async def test_run_then_preview_and_second_run_find_nothing_to_do(
        self, build_broker: BuildBroker
    ) -> None:
        broker = await build_broker(STANDARD)
        config = self.config(broker)
        first = await self.rebalance(
            self.make_rebalancer(broker.client, allocation_source=self.source()), config
        )
        assert first.success, first.error
        placed = len(broker.orders())

        preview = await self.preview(
            self.make_rebalancer(broker.client, allocation_source=self.source()), config
        )
        again = await self.rebalance(
            self.make_rebalancer(broker.client, allocation_source=self.source()), config
        )

        assert preview.proposed_trades == []
        assert {line.direction for line in preview.plan} == {"HOLD"}
        assert again.success, again.error
        assert again.orders == []
        assert len(broker.orders()) == placed

    async def test_run_keeps_the_cash_reserve_in_cash(self, build_broker: BuildBroker) -> None:
        broker = await build_broker(STANDARD)
        before = await self.snapshot(broker)
        config = self.config(broker, cash_reserve_percent=Decimal(5))
        result = await self.rebalance(
            self.make_rebalancer(broker.client, allocation_source=self.source()), config
        )

        assert result.success, result.error
        after = await self.snapshot(broker)
        assert after.cash_balance >= before.total_value * Decimal("0.05")
        assert after.cash_balance <= after.total_value * Decimal("0.07")  # and little more

    async def test_run_and_preview_never_sell_shares_bought_earlier_today(
        self, build_broker: BuildBroker
    ) -> None:
        broker = await build_broker(STANDARD)
        client = broker.client
        bought = await self.bounded(client.place_order(broker.account_id, "EFA", 10))
        fill = await self.bounded(client.wait_for_order(bought.order_id, timeout_secs=10))
        assert fill.filled_quantity == 10, fill
        rebalancer = self.make_rebalancer(client, allocation_source=self.source())

        preview = await self.preview(rebalancer, self.config(broker))
        result = await self.rebalance(rebalancer, self.config(broker))

        assert "EFA" not in {t.symbol for t in preview.proposed_trades}
        assert any(
            w.startswith("EFA: over its target, but bought earlier today") for w in preview.warnings
        )
        assert result.success, result.error
        assert "EFA" not in {t.symbol for t in result.orders}
        assert (await self.snapshot(broker)).position("EFA") is not None
        assert [o.quantity for o in broker.orders() if o.symbol == "EFA"] == [10]
        assert {"TLT", "GLD"} <= {t.symbol for t in result.orders if t.quantity < 0}

    async def test_run_cancels_the_accounts_open_orders_before_trading(
        self, build_broker: BuildBroker
    ) -> None:
        broker = await build_broker(STANDARD)
        stale = await self.bounded(
            broker.client.place_order(
                broker.account_id,
                "QQQ",
                1,
                order=OrderSpec(
                    type="LIMIT", limit_price=Decimal("250.00")
                ),  # half the bid: it rests
                order_ref="old-run",
            )
        )
        result = await self.rebalance(
            self.make_rebalancer(broker.client, allocation_source=self.source()),
            self.config(broker),
        )

        assert result.success, result.error
        assert any(stale.order_id in w for w in result.warnings), result.warnings
        status = await self.bounded(broker.client.get_order_status(stale.order_id))
        assert status is OrderStatus.CANCELLED
        assert await self.bounded(broker.client.get_open_orders(broker.account_id)) == []
