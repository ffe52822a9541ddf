"""The execution report as text: one summary line per run, one table row per order (the CLI,
the notification and the journal's summary share them)."""

from __future__ import annotations

from decimal import Decimal

from broker_connector_base import ExecutionReport, OrderExecution

__all__ = [
    "EXECUTION_HEADER",
    "EXECUTION_NUMERIC",
    "execution_line",
    "execution_rows",
    "execution_summary",
]

EXECUTION_HEADER = (
    "ORDER",
    "SYMBOL",
    "SIDE",
    "TYPE",
    "FILLED",
    "DECISION",
    "ARRIVAL MID",
    "SPREAD BPS",
    "AVG FILL",
    "SLIP BPS",
    "COMMISSION",
    "FILL SECS",
)
EXECUTION_NUMERIC = frozenset(range(4, 12))


def _plain(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,}"


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"${value:,.2f}"


def _percent(value: Decimal | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def execution_summary(report: ExecutionReport) -> str:
    """``execution: slippage 0.52 bps on $12,345.67 filled, commissions $4.00, drift left
    0.31% (largest 0.12%)``; positive slippage is a cost."""
    if report.slippage_bps is None:
        slippage = "slippage - (nothing filled against a known quote)"
    else:
        slippage = f"slippage {report.slippage_bps} bps on {_money(report.filled_notional)} filled"
    parts = [
        slippage,
        f"commissions {_money(report.commission) if report.commission is not None else 'unknown'}",
        f"drift left {_percent(report.drift_after)} (largest {_percent(report.drift_after_max)})",
    ]
    if report.pending_close:
        parts.append(f"{report.pending_close} market-on-close orders pending the close")
    return "execution: " + ", ".join(parts)


def _row(order: OrderExecution) -> tuple[str, ...]:
    return (
        order.order_id or "-",
        order.symbol,
        order.side,
        order.order_type,
        f"{abs(order.filled_quantity)}/{abs(order.quantity)}",
        _plain(order.decision_price),
        _plain(order.arrival_mid),
        _plain(order.spread_bps),
        _plain(order.avg_fill_price),
        _plain(order.slippage_bps),
        "-" if order.commission is None else f"{order.commission:,.2f}",
        "-" if order.time_to_fill_secs is None else f"{order.time_to_fill_secs:.2f}",
    )


def execution_rows(report: ExecutionReport) -> list[tuple[str, ...]]:
    """One row per order, in sending order (``EXECUTION_HEADER``'s columns)."""
    return [_row(order) for order in report.orders]


def execution_line(order: OrderExecution) -> str:
    """One order in a sentence: ``SELL 100/100 TLT (MARKET): avg 92.87, arrival mid 92.875
    (spread 1.08 bps), slippage 0.54 bps, commission 1.00, 0.12 s``."""
    head = f"{order.side} {abs(order.filled_quantity)}/{abs(order.quantity)} {order.symbol}"
    parts = [
        f"avg {_plain(order.avg_fill_price)}",
        f"arrival mid {_plain(order.arrival_mid)} (spread {_plain(order.spread_bps)} bps)",
        f"slippage {_plain(order.slippage_bps)} bps",
        f"commission {'-' if order.commission is None else f'{order.commission:,.2f}'}",
    ]
    if order.time_to_fill_secs is not None:
        parts.append(f"{order.time_to_fill_secs:.2f} s")
    return f"{head} ({order.order_type}, {order.status}): " + ", ".join(parts)
