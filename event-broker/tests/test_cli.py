"""The manual trigger's arguments and its trade table."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from app.cli import main
from app.models import AccountExecutionResult
from app.notify.report import format_results
from broker_connector_base import OrderStatus, RebalancePlan, Trade

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def _trade(symbol: str, quantity: int, **fields: object) -> Trade:
    return Trade.model_validate(
        {
            "symbol": symbol,
            "quantity": quantity,
            "current_shares": 0,
            "target_value": "1000",
            "current_value": "0",
            "price": "10.50",
            **fields,
        }
    )


def _result(**fields: object) -> AccountExecutionResult:
    return AccountExecutionResult.model_validate(
        {
            "account_id": "DU1",
            "run_id": "r1",
            "mode": "print-rebalance",
            "status": "succeeded",
            "success": True,
            "started_at": NOW,
            "finished_at": NOW,
            **fields,
        }
    )


def test_format_results_lists_each_trade_with_action_and_value() -> None:
    preview = _result(trades=[_trade("SPY", 10), _trade("TLT", -3)], total_value=Decimal(1000))

    text = format_results([preview])

    lines = text.splitlines()
    assert lines[0].split() == [
        "ACCOUNT",
        "ACTION",
        "SYMBOL",
        "QUANTITY",
        "PRICE",
        "VALUE",
        "ORDER",
        "STATUS",
    ]
    assert lines[1].split() == ["DU1", "BUY", "SPY", "10", "10.50", "105.00", "-", "proposed"]
    assert lines[2].split() == ["DU1", "SELL", "TLT", "3", "10.50", "31.50", "-", "proposed"]
    assert "DU1 preview (run r1) succeeded: 2 trades proposed" in text


def test_format_results_shows_order_ids_and_failures() -> None:
    executed = _result(
        mode="rebalance",
        trades=[_trade("SPY", 10, order_id="42", status=OrderStatus.FILLED)],
    )
    refused = _result(
        account_id="DU2", run_id="r2", status="refused", success=False, error="PDT Protection"
    )

    text = format_results([executed, refused])

    assert "42" in text
    assert "FILLED" in text
    assert "DU1 rebalance (run r1) succeeded: 1 order placed, 1 filled" in text
    assert "DU2 preview (run r2) refused: PDT Protection" in text


def test_format_results_when_orders_were_placed_then_shows_fills_beside_the_plan() -> None:
    executed = _result(
        mode="rebalance",
        trades=[
            _trade(
                "SPY",
                10,
                order_id="42",
                status=OrderStatus.FILLED,
                filled_quantity=10,
                avg_fill_price="10.4975",
            ),
            _trade(
                "TLT",
                -3,
                order_id="43",
                status=OrderStatus.CANCELLED,
                filled_quantity=-1,
                avg_fill_price="10.25",
            ),
            _trade("GLD", 2, order_id="44", status=OrderStatus.WORKING),
        ],
    )

    lines = format_results([executed]).splitlines()

    assert lines[0].split()[-5:] == ["ORDER", "STATUS", "FILLED", "AVG", "FILL"]
    assert lines[1].split() == [
        "DU1", "BUY", "SPY", "10", "10.50", "105.00", "42", "FILLED", "10", "10.50",
    ]  # fmt: skip
    assert lines[2].split() == [
        "DU1", "SELL", "TLT", "3", "10.50", "31.50", "43", "CANCELLED", "1", "10.25",
    ]  # fmt: skip
    assert lines[3].split() == [
        "DU1", "BUY", "GLD", "2", "10.50", "21.00", "44", "WORKING", "-", "-",
    ]  # fmt: skip
    assert "DU1 rebalance (run r1) succeeded: 3 orders placed, 1 filled" in lines[-1]


def test_format_results_when_only_previews_then_has_no_fill_columns() -> None:
    header = format_results([_result(trades=[_trade("SPY", 1)])]).splitlines()[0]

    assert "FILL" not in header


def test_format_results_says_when_no_trade_is_needed() -> None:
    assert "no trades needed" in format_results([_result()])


def _line(
    symbol: str, quantity: int, shares: dict[str, str] | None, **fields: str
) -> RebalancePlan:
    direction = "HOLD" if quantity == 0 else ("BUY" if quantity > 0 else "SELL")
    return RebalancePlan.model_validate(
        {
            "symbol": symbol,
            "current_weight": fields.get("current_weight", "0.1"),
            "target_weight": fields.get("target_weight", "0.1"),
            "current_value": fields.get("current_value", "1000"),
            "target_value": fields.get("target_value", "1000"),
            "trade_quantity": quantity,
            "trade_amount": str(quantity * Decimal("10.50")),
            "direction": direction,
            "needs_rebalance": quantity != 0,
            "attribution": None if shares is None else {"shares": shares},
        }
    )


def test_format_results_preview_with_plan_lists_every_line_with_weights_and_strategies() -> None:
    growth_income = {"growth": "0.6", "income": "0.4"}
    preview = _result(
        trades=[
            _trade("SPY", 12, attribution={"shares": growth_income}),
            _trade("VNQ", -3, attribution={"shares": {"income": "1"}}),
        ],
        plan=[
            _line("SPY", 12, growth_income, current_weight="0.2", target_weight="0.3333"),
            _line("TLT", 0, {"growth": "0.5", "income": "0.5"}),
            _line("VNQ", -3, {"income": "1"}, target_value="500", target_weight="0.05"),
        ],
    )

    lines = format_results([preview]).splitlines()

    assert lines[0].split() == [
        "ACCOUNT", "ACTION", "SYMBOL", "QUANTITY", "PRICE", "VALUE", "CURRENT", "WEIGHT",
        "TARGET", "TARGET", "WEIGHT", "STRATEGIES",
    ]  # fmt: skip
    assert lines[1].split() == [
        "DU1", "BUY", "SPY", "12", "10.50", "126.00", "1,000.00", "20.0%", "1,000.00", "33.3%",
        "growth", "60%", "/", "income", "40%",
    ]  # fmt: skip
    assert lines[2].split() == [
        "DU1", "HOLD", "TLT", "-", "-", "-", "1,000.00", "10.0%", "1,000.00", "10.0%",
        "growth", "50%", "/", "income", "50%",
    ]  # fmt: skip
    assert lines[3].split() == [
        "DU1", "SELL", "VNQ", "3", "10.50", "31.50", "1,000.00", "10.0%", "500.00", "5.0%",
        "income", "100%",
    ]  # fmt: skip
    assert "DU1 preview (run r1) succeeded: 2 trades proposed" in lines[5]
    assert lines[6] == (
        "  by strategy (planned values): growth buys 75.60, sells 0.00; "
        "income buys 50.40, sells 31.50"
    )


def test_format_results_of_one_strategy_has_no_strategies_column_or_parts() -> None:
    preview = _result(
        trades=[_trade("SPY", 12, attribution={"shares": {"growth": "1"}})],
        plan=[_line("SPY", 12, {"growth": "1"})],
    )
    executed = _result(
        run_id="r2",
        mode="rebalance",
        trades=[_trade("SPY", 1, order_id="7", attribution={"shares": {"growth": "1"}})],
    )

    text = format_results([preview, executed])

    assert "STRATEGIES" not in text
    assert "growth" not in text
    assert "by strategy" not in text


def test_format_results_orders_of_two_strategies_show_whom_each_is_for() -> None:
    executed = _result(
        mode="rebalance",
        trades=[
            _trade("SPY", 12, order_id="42", attribution={"shares": {"a": "0.25", "b": "0.75"}}),
            _trade("QQQ", 2, order_id="43", attribution={"shares": {"a": "1"}}),
        ],
    )

    lines = format_results([executed]).splitlines()

    assert lines[0].split()[-1] == "STRATEGIES"
    assert lines[1].endswith("  b 75% / a 25%")
    assert lines[2].endswith("  a 100%")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give one of -account ID or -all"),
        (["-account", "DU1", "-all"], "give one of -account ID or -all"),
        (
            ["-account", "DU1", "-exec", "liquidate"],
            "argument -exec/--exec: invalid choice: 'liquidate'",
        ),
        # Unknown flags, abbreviations and stray words.
        (["-account", "DU1", "-dryrun"], "unrecognized arguments: -dryrun"),
        (["-all", "-exe", "rebalance"], "unrecognized arguments: -exe"),
        (["-acc", "DU1"], "unrecognized arguments: -acc (flags are never abbreviated)"),
        (["--acc", "DU1"], "unrecognized arguments: --acc (flags are never abbreviated)"),
        (["-all", "--exe", "rebalance"], "unrecognized arguments: --exe (flags are never"),
        (["-account", "DU1", "extra"], "unrecognized arguments: extra"),
        # Every flag given twice, even with the same value.
        (
            ["-account", "DU1", "-account", "DU2"],
            "argument -account: given more than once",
        ),
        (["-account", "DU1", "--account", "DU1"], "argument --account: given more than once"),
        (["-all", "-all"], "argument -all: given more than once"),
        (
            ["-all", "-exec", "rebalance", "-exec", "rebalance"],
            "argument -exec: given more than once",
        ),
        (["-all", "-snapshot", "-snapshot"], "argument -snapshot: given more than once"),
        (["-report", "-report", "-account", "DU1"], "argument -report: given more than once"),
        (
            ["-report", "-account", "DU1", "-since", "2026-01-02", "-since", "2026-01-05"],
            "argument -since: given more than once",
        ),
        (
            ["-report", "-account", "DU1", "-format", "json", "-format", "json"],
            "argument -format: given more than once",
        ),
        (
            ["-report", "-account", "DU1", "-plot", "a.png", "-plot", "b.png"],
            "argument -plot: given more than once",
        ),
        (
            ["-all", "--env-file", "a", "--env-file", "b"],
            "argument --env-file: given more than once",
        ),
        # Bad values, named with their flag.
        (
            ["-report", "-account", "DU1", "-since", "2026-13-01"],
            "argument -since/--since: '2026-13-01' is not a date (YYYY-MM-DD)",
        ),
        (
            ["-report", "-account", "DU1", "-since", "yesterday"],
            "argument -since/--since: 'yesterday' is not a date",
        ),
        (
            ["-report", "-account", "DU1", "-since", "2999-01-01"],
            "argument -since/--since: 2999-01-01 is after today",
        ),
        (
            ["-report", "-account", "DU1", "-format", "xml"],
            "argument -format/--format: invalid choice: 'xml'",
        ),
        (["-account"], "argument -account/--account: expected one argument"),
        # Flags that do not belong together.
        (["-all", "-since", "2026-01-02"], "-since applies to -report and -spreads only"),
        (["-spreads", "-account", "DU1"], "-spreads takes -since only; not -account"),
        (["-spreads", "-report"], "-spreads takes -since only; not -report"),
        (["-account", "DU1", "-format", "json"], "-format applies to -report only"),
        (["-snapshot", "-all", "-plot", "x.png"], "-plot applies to -report only"),
        (["-snapshot", "-all", "-exec", "rebalance"], "-exec does not apply to -snapshot"),
        (["-snapshot"], "give one of -account ID or -all"),
        (["-report", "-all"], "-report needs -account ID (one account)"),
        (["-report"], "-report needs -account ID (one account)"),
        (["-report", "-account", "DU1", "-exec", "rebalance"], "-exec does not apply to -report"),
        (
            ["-report", "-snapshot", "-account", "DU1"],
            "-report and -snapshot are separate commands",
        ),
    ],
)
def test_cli_refuses_bad_arguments_with_exit_2_naming_the_flag_and_value(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "usage: rebalance" in err
    assert message in err
