"""IBKRRebalancer end to end: real ib_async, the simulator, a local aiohttp allocations API.

What every broker must do (sell first, partial fills, replacement sets, cancelling open
orders, ...) is checked by the engine's rebalancer conformance suite on IB
(``test_rebalancer_conformance.py``); here: the IB specifics (commissions, IB error codes and
times, the gateway's clock and executions) and the engine's fixed point on the real client.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from broker_connector_base import InvalidInputError, OrderStatus, Trade
from ib_gateway_sim import GatewaySimulator, Scenario
from ibkr_connector import (
    AllocationService,
    IBKRClient,
    IBKRRebalancer,
    ReplacementService,
)
from ibkr_connector.testing import (
    ACCOUNT,
    API_KEY,
    AllocationsAPI,
    MakeClient,
    account_config,
)
from pydantic import SecretStr

pytestmark = pytest.mark.timeout(60)

WEIGHTS = {"SPY": "0.1", "AGG": "0.4", "QQQ": "0.3", "IEF": "0.2"}
DROPPED = [r"^Peer closed connection\.$"]


@pytest.fixture
def api(allocations_api: AllocationsAPI) -> AllocationsAPI:
    allocations_api.set_allocations("etf-blend", WEIGHTS)
    return allocations_api


def _rebalancer(
    client: IBKRClient, api: AllocationsAPI, tmp_path: Path | None = None, **kwargs: Any
) -> IBKRRebalancer:
    kwargs.setdefault("fill_timeout_secs", 10.0)
    kwargs.setdefault("cancel_timeout_secs", 5.0)
    replacements = None
    if tmp_path is not None:
        path = tmp_path / "replacement-sets.yaml"
        path.write_text(
            "ira:\n"
            "  - {source: DBC, target: PDBC, scale: 1.0}\n"
            "  - {source: GLD, target: IAU, scale: 0.5}\n"
        )
        replacements = ReplacementService.from_yaml(path)
    return IBKRRebalancer(
        client,
        allocation_service=AllocationService(api.base_url, SecretStr(API_KEY)),
        replacement_service=replacements,
        **kwargs,
    )


def _value(sim: GatewaySimulator, account: str = ACCOUNT) -> Decimal:
    symbols = sim.engine.symbols
    total = sim.cash(account)
    for symbol, quantity in sim.positions(account).items():
        spec = symbols[symbol]
        assert spec.bid is not None
        assert spec.ask is not None
        total += quantity * (spec.bid + spec.ask) / 2
    return total


async def test_preview_proposes_sells_then_buys_and_places_nothing(
    sim: GatewaySimulator, client: IBKRClient, api: AllocationsAPI
) -> None:
    preview = await _rebalancer(client, api).calculate_rebalance(account_config())
    assert preview.success
    trades = {t.symbol: t.quantity for t in preview.proposed_trades}
    assert trades["GLD"] == -20
    assert trades["TLT"] == -100
    assert trades["SPY"] < 0
    assert all(trades[s] > 0 for s in ("AGG", "QQQ", "IEF"))
    signs = [t.quantity > 0 for t in preview.proposed_trades]
    assert signs == sorted(signs), "sells come before buys"
    assert preview.current_value == _value(sim)
    assert sim.orders() == []


# The account's own drift band, configured explicitly: see the churn test below.
BANDED = {"drift_band_percent": Decimal("0.5")}


async def test_execute_then_preview_shows_no_trades_and_second_run_places_nothing(
    sim: GatewaySimulator, client: IBKRClient, api: AllocationsAPI
) -> None:
    seen: list[Trade] = []
    rebalancer = _rebalancer(client, api, run_id="run-1", on_order=seen.append)
    result = await rebalancer.rebalance_account(account_config(**BANDED))
    assert result.success, result.error
    assert result.orders
    for trade in result.orders:
        assert trade.status is OrderStatus.FILLED
        assert trade.filled_quantity == trade.quantity
        assert trade.order_id is not None
        assert trade.order_id.isdigit()
        assert trade.avg_fill_price is not None
    assert {o.order_ref for o in sim.orders()} == {"run-1"}
    assert len(seen) == 3 * len(result.orders)  # about to be sent, acknowledged, filled
    assert len({t.order_id for t in result.orders}) == len(result.orders)
    assert result.cash_balance == sim.cash(ACCOUNT)
    placed = len(sim.orders())

    preview = await rebalancer.calculate_rebalance(account_config(**BANDED))
    assert preview.proposed_trades == [], preview.proposed_trades
    again = await _rebalancer(client, api, run_id="run-2").rebalance_account(
        account_config(**BANDED)
    )
    assert again.success, again.error
    assert again.orders == []
    assert len(sim.orders()) == placed


async def test_execute_top_up_round_spends_the_cash_the_buffered_buy_prices_left(
    sim: GatewaySimulator, client: IBKRClient, api: AllocationsAPI
) -> None:
    # Buys are planned at ask * 1.005 and fill at the ask: without a top-up round about 0.5%
    # of the bought value stays idle above the reserve.
    without = await _rebalancer(client, api, extra_rounds=0).rebalance_account(account_config())
    assert without.success, without.error
    assert without.cash_balance is not None
    idle_without = without.cash_balance - without.total_value / 100
    sim.reset()
    await client.disconnect()
    await client.connect()

    result = await _rebalancer(client, api).rebalance_account(account_config())

    assert result.success, result.error
    assert result.cash_balance is not None
    idle = result.cash_balance - result.total_value / 100
    assert Decimal(0) <= idle < idle_without
    buys = [o for o in sim.orders() if o.action == "BUY"]
    assert len(buys) > 3  # AGG, QQQ and IEF in the first round, then the top-up


async def test_execute_without_drift_band_then_preview_and_second_run_do_nothing(
    sim: GatewaySimulator, client: IBKRClient, api: AllocationsAPI
) -> None:
    # No drift band: every share counts. The run's later rounds plan from what the fills
    # left until nothing is left to do, and the preview, like the run, never sells shares
    # bought earlier the same day; so the preview and a second run agree: nothing to do.
    rebalancer = _rebalancer(client, api)
    result = await rebalancer.rebalance_account(account_config())
    assert result.success, result.error
    placed = len(sim.orders())
    preview = await rebalancer.calculate_rebalance(account_config())
    assert preview.proposed_trades == []
    again = await _rebalancer(client, api, run_id="run-2").rebalance_account(account_config())
    assert again.success, again.error
    assert again.orders == []
    assert len(sim.orders()) == placed


def _random_strategy(seed: int) -> tuple[dict[str, str], Decimal]:
    """Four to eight of the scenario's symbols with random weights, and a reserve of 0-5%."""
    rng = random.Random(seed)
    symbols = rng.sample(sorted(Scenario.builtin("example").symbols), rng.randint(4, 8))
    raw = [rng.randint(1, 100) for _ in symbols]
    weights = [Decimal(r) / sum(raw) for r in raw]
    weights[-1] = 1 - sum(weights[:-1], Decimal(0))  # exactly 1 in total
    return {s: str(w.quantize(Decimal("1e-12"))) for s, w in zip(symbols, weights, strict=True)}, (
        Decimal(rng.randint(0, 5))
    )


@pytest.mark.parametrize("seed", range(8))
async def test_execute_then_preview_finds_nothing_to_do_for_any_strategy(
    sim: GatewaySimulator, client: IBKRClient, api: AllocationsAPI, seed: int
) -> None:
    # The same guarantee as above on random strategies: the run ends where its own
    # calculator, under its own rules, sees nothing left worth doing.
    weights, reserve = _random_strategy(seed)
    api.set_allocations("etf-blend", weights)
    config = account_config(cash_reserve_percent=reserve)
    rebalancer = _rebalancer(client, api)
    result = await rebalancer.rebalance_account(config)
    assert result.success, result.error
    preview = await rebalancer.calculate_rebalance(config)
    assert preview.proposed_trades == [], (weights, reserve, preview.proposed_trades)


async def test_preview_and_execute_never_sell_shares_bought_earlier_today(
    sim: GatewaySimulator, client: IBKRClient, api: AllocationsAPI
) -> None:
    # Bought this morning; the strategy drops it this afternoon. Selling it today would be a
    # day trade (a good-faith violation in this cash account): it waits for tomorrow.
    bought = await client.place_order(ACCOUNT, "EFA", 10)
    assert (await client.wait_for_order(bought.order_id, timeout_secs=10)).filled_quantity == 10
    rebalancer = _rebalancer(client, api)

    preview = await rebalancer.calculate_rebalance(account_config())
    result = await rebalancer.rebalance_account(account_config())

    assert "EFA" not in {t.symbol for t in preview.proposed_trades}
    assert any(
        w.startswith("EFA: over its target, but bought earlier today") for w in preview.warnings
    )
    assert result.success, result.error
    assert "EFA" not in {o.symbol for o in result.orders}
    assert sim.positions(ACCOUNT)["EFA"] == 10
    assert {"TLT", "GLD"} <= {o.symbol for o in result.orders if o.action == "SELL"}

    sim.advance_clock(dt.timedelta(days=1))
    tomorrow = await _rebalancer(client, api).calculate_rebalance(account_config())
    assert [(t.symbol, t.quantity) for t in tomorrow.proposed_trades if t.symbol == "EFA"] == [
        ("EFA", -10)
    ]


async def test_execute_leaves_the_cash_reserve_in_cash(
    sim: GatewaySimulator, client: IBKRClient, api: AllocationsAPI
) -> None:
    config = account_config(cash_reserve_percent=Decimal(5))
    result = await _rebalancer(client, api).rebalance_account(config)
    assert result.success, result.error
    total = _value(sim)
    commissions = sum(f.commission for o in sim.orders() for f in o.fills)
    assert sim.cash(ACCOUNT) >= total * Decimal("0.05") - commissions
    assert sim.cash(ACCOUNT) <= total * Decimal("0.07")  # and not much more than it


@pytest.mark.parametrize("set_name", ["roth"])
async def test_preview_unknown_replacement_set_raises_naming_it(
    client: IBKRClient, api: AllocationsAPI, tmp_path: Path, set_name: str
) -> None:
    with pytest.raises(InvalidInputError, match="unknown replacement set 'roth'"):
        await _rebalancer(client, api, tmp_path).calculate_rebalance(
            account_config(replacement_set=set_name)
        )


async def test_execute_rejected_sell_reports_it_and_places_no_buys(
    sim: GatewaySimulator, client: IBKRClient, api: AllocationsAPI
) -> None:
    sim.set_faults(reject_symbols=["TLT"])
    result = await _rebalancer(client, api).rebalance_account(account_config())
    assert result.success is False
    assert result.error is not None
    assert "TLT" in result.error
    tlt = next(t for t in result.orders if t.symbol == "TLT")
    assert tlt.status is OrderStatus.REJECTED
    assert any("IB error 201" in w for w in result.warnings)
    assert [o for o in sim.orders() if o.action == "BUY"] == []


@pytest.mark.parametrize("allowed_ib_errors", [DROPPED])
async def test_execute_gateway_drop_during_sells_fails_cleanly_then_second_run_converges(
    sim: GatewaySimulator,
    make_client: MakeClient,
    api: AllocationsAPI,
    allowed_ib_errors: list[str],
) -> None:
    sim.set_faults(drop_connections_after_orders=1, fill_delay_secs=0.2)
    first = await make_client(client_id=31)
    result = await _rebalancer(first, api).rebalance_account(account_config())
    assert result.success is False
    assert result.error is not None
    assert "BrokerConnectionError" in result.error
    assert [o for o in sim.orders() if o.action == "BUY"] == []
    # The sell that was acknowledged, and the one in flight when the connection dropped.
    assert [t.status for t in result.orders] == [OrderStatus.WORKING, OrderStatus.ERROR]

    # The restarted daemon uses the same client id (derived from the account id).
    second = await make_client(client_id=31)
    retry = await _rebalancer(second, api).rebalance_account(account_config(**BANDED))
    assert retry.success, retry.error
    preview = await _rebalancer(second, api).calculate_rebalance(account_config(**BANDED))
    assert preview.proposed_trades == []


async def test_execute_outside_trading_hours_is_refused_with_next_open_time(
    sim: GatewaySimulator, client: IBKRClient, api: AllocationsAPI
) -> None:
    sim.set_always_open(False)
    sim.set_clock(dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))))
    result = await _rebalancer(client, api).rebalance_account(account_config())
    assert result.success is False
    assert result.error is not None
    assert "market closed" in result.error
    assert "next open 2026-11-23T14:30:00+00:00" in result.error
    assert sim.orders() == []


async def test_invalid_account_id_preview_raises_and_execute_reports_clear_error(
    sim: GatewaySimulator, client: IBKRClient, api: AllocationsAPI
) -> None:
    config = account_config(account_id="INVALID123")
    with pytest.raises(InvalidInputError, match="'INVALID123' is not managed"):
        await _rebalancer(client, api).calculate_rebalance(config)
    result = await _rebalancer(client, api).rebalance_account(config)
    assert result.success is False
    assert result.error is not None
    assert "'INVALID123' is not managed" in result.error
    assert sim.orders() == []


async def test_execute_price_jump_after_sells_places_only_buys_the_cash_pays_for(
    sim: GatewaySimulator, client: IBKRClient, api: AllocationsAPI
) -> None:
    def jump_after_spy_sell(trade: Trade) -> None:
        # SPY rallies once its sell has filled: the recomputed plan wants to sell more SPY,
        # which this round does not do, so its buys may not count on that money; the next
        # round sells it (after the buys) and spends the proceeds.
        if trade.symbol == "SPY" and trade.status is OrderStatus.FILLED:
            sim.set_price("SPY", bid=Decimal("700.00"), ask=Decimal("700.02"))

    config = account_config(cash_reserve_percent=Decimal(2))
    rebalancer = _rebalancer(client, api, on_order=jump_after_spy_sell)
    result = await rebalancer.rebalance_account(config)
    assert result.success, result.error
    assert any("would sell again" in w for w in result.warnings), result.warnings
    actions = [(o.action, o.symbol) for o in sim.orders()]
    assert [a for a, _ in actions[:3]] == ["SELL"] * 3
    buy_first = next(i for i, (a, _) in enumerate(actions) if a == "BUY")
    assert ("SELL", "SPY") in actions[buy_first:]
    total = _value(sim)
    commissions = sum(f.commission for o in sim.orders() for f in o.fills)
    assert sim.cash(ACCOUNT) >= total * Decimal("0.02") - commissions


async def test_preview_symbol_without_bid_ask_warns_in_result(
    sim: GatewaySimulator, client: IBKRClient, api: AllocationsAPI
) -> None:
    spec = sim.engine.symbols["IEF"]
    sim.engine.symbols["IEF"] = spec.model_copy(update={"bid": None, "ask": None})
    preview = await _rebalancer(client, api).calculate_rebalance(account_config())
    assert any(w.startswith("IEF: no bid/ask quote, using last trade") for w in preview.warnings)
    ief = next(t for t in preview.proposed_trades if t.symbol == "IEF")
    assert ief.quantity > 0


async def test_execute_journal_failing_after_orders_were_sent_does_not_stop_the_run(
    sim: GatewaySimulator, client: IBKRClient, api: AllocationsAPI
) -> None:
    def broken_journal(trade: Trade) -> None:
        if trade.order_id is not None:  # the intents were journalled; then the disk filled up
            raise OSError("disk full")

    result = await _rebalancer(client, api, on_order=broken_journal).rebalance_account(
        account_config()
    )
    assert result.success, result.error
    assert any("journal callback failed" in w and "disk full" in w for w in result.warnings)
    assert len(sim.orders()) == len(result.orders)


async def test_execute_journal_failing_before_sending_sends_nothing(
    sim: GatewaySimulator, client: IBKRClient, api: AllocationsAPI
) -> None:
    def broken_journal(trade: Trade) -> None:
        raise OSError("disk full")

    result = await _rebalancer(client, api, on_order=broken_journal).rebalance_account(
        account_config()
    )
    assert result.success is False
    assert result.error is not None
    assert "recording it before sending failed (OSError: disk full)" in result.error
    assert sim.orders() == []
