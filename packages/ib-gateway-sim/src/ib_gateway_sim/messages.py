"""Encoders for every server-to-client message, field for field at server version 178.

Field counts matter: ib_async unpacks several messages into fixed tuples and silently drops
any message with one field too many or too few (see the wire-protocol reference, §5, §10).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ib_gateway_sim.state import SimFill, SimOrder
from ib_gateway_sim.wire import Field, frame

# Tick type ids (live, delayed).
BID, ASK, LAST, CLOSE = (1, 66), (2, 67), (4, 68), (9, 75)
VOLUME = (8, 74)


def managed_accounts(accounts: list[str]) -> bytes:
    return frame([15, 1, ",".join(accounts)])


def next_valid_id(order_id: int) -> bytes:
    return frame([9, 1, order_id])


def error(req_id: int, code: int, text: str) -> bytes:
    return frame([4, 2, req_id, code, text, ""])


def current_time(epoch: int) -> bytes:
    return frame([49, 1, epoch])


def position(
    account: str, con_id: int, symbol: str, exchange: str, currency: str, qty: Decimal, avg: Decimal
) -> bytes:
    fields: list[Field] = [61, 3, account, con_id, symbol, "STK", "", 0, "", "", exchange]
    fields += [currency, symbol, symbol, qty, avg]
    return frame(fields)


def position_end() -> bytes:
    return frame([62, 1])


def account_value(key: str, value: Field, currency: str, account: str) -> bytes:
    return frame([6, 2, key, value, currency, account])


def portfolio_value(
    *,
    con_id: int,
    symbol: str,
    primary_exchange: str,
    currency: str,
    qty: Decimal,
    market_price: Decimal,
    avg_cost: Decimal,
    realized: Decimal,
    account: str,
) -> bytes:
    market_value = qty * market_price
    unrealized = market_value - qty * avg_cost
    fields: list[Field] = [7, 8, con_id, symbol, "STK", "", 0, "", "", primary_exchange]
    fields += [currency, symbol, symbol, qty, market_price, market_value, avg_cost, unrealized]
    fields += [realized, account]
    return frame(fields)


def account_update_time(when: dt.datetime) -> bytes:
    return frame([8, 1, when.strftime("%H:%M")])


def account_download_end(account: str) -> bytes:
    return frame([54, 1, account])


def account_update_multi(req_id: int, account: str, key: str, value: Field, currency: str) -> bytes:
    return frame([73, 1, req_id, account, "", key, value, currency])


def account_update_multi_end(req_id: int) -> bytes:
    return frame([74, 1, req_id])


def account_summary(req_id: int, account: str, tag: str, value: Field, currency: str) -> bytes:
    return frame([63, 1, req_id, account, tag, value, currency])


def account_summary_end(req_id: int) -> bytes:
    return frame([64, 1, req_id])


def contract_details(
    req_id: int,
    *,
    symbol: str,
    sec_type: str,
    exchange: str,
    currency: str,
    con_id: int,
    min_tick: Decimal,
    long_name: str,
    primary_exchange: str,
    timezone: str,
    trading_hours: str,
    liquid_hours: str,
    stock_type: str,
    isin: str | None = None,
) -> bytes:
    valid = f"SMART,{primary_exchange}" if primary_exchange else "SMART"
    types = "ACTIVETIM,ADAPTIVE,ALGO,LMT,MIDPX,MKT,MOC,LOC"
    fields: list[Field] = [10, req_id, symbol, sec_type, "", 0, "", exchange, currency, symbol]
    fields += [symbol, symbol, con_id, min_tick, "", types, valid, 1, 0]
    fields += [long_name, primary_exchange, "", "", "", "", timezone, trading_hours, liquid_hours]
    sec_ids: list[Field] = [1, "ISIN", isin] if isin else [0]
    fields += ["", "", *sec_ids, "", "", "", "26,26", "", stock_type, 1, 1, 100]
    return frame(fields)


def contract_details_end(req_id: int) -> bytes:
    return frame([52, 1, req_id])


def market_data_type(req_id: int, data_type: int) -> bytes:
    return frame([58, 1, req_id, data_type])


def tick_price(req_id: int, tick_type: int, price: Decimal, size: int, attrs: int) -> bytes:
    return frame([1, 6, req_id, tick_type, price, size, attrs])


def tick_size(req_id: int, tick_type: int, size: int) -> bytes:
    return frame([2, 6, req_id, tick_type, size])


def tick_snapshot_end(req_id: int) -> bytes:
    return frame([57, 1, req_id])


def _order_contract(order: SimOrder, currency: str) -> list[Field]:
    return [order.con_id, order.wire_symbol, "STK", "", 0, "", "", order.exchange, currency]


def _algo(order: SimOrder) -> list[Field]:
    # algoStrategy; when set, ib_async reads a parameter count and that many tag/value pairs.
    if not order.algo_strategy:
        return [""]
    pairs = [item for pair in order.algo_params for item in pair]
    return [order.algo_strategy, len(order.algo_params), *pairs]


def open_order(order: SimOrder, currency: str) -> bytes:
    """openOrder (5): 127 fields for a plain order at sv 178."""
    fields: list[Field] = [5, order.order_id]
    fields += [*_order_contract(order, currency), order.wire_symbol, order.wire_symbol]
    fields += [order.action, order.quantity, order.order_type, order.limit_price, None]
    fields += [order.tif, "", order.account, "", 0, order.order_ref, order.client_id]
    fields += [order.perm_id, 0, 0, 0, "", "", "", "", ""]  # #25-33
    fields += ["", "", "", "", "", 0, "", -1, 0, "", "", "", "", ""]  # #34-47
    fields += [0, 0, 0, 0, "", 0, 0, 0, "", 0, 0, "", "", "", "", 0]  # #48-63
    fields += ["", "", "", "", "", "", 0, 0, 0, "", "", "", "", 0, "", "", 0, 0]  # #64-81
    fields += _algo(order)  # #82 (+ count and tag/value pairs when set)
    fields += [0, 0, order.status, *[""] * 9, "", "", "", "", "", 0, 0]  # #83-101
    fields += [0, "", "", "", "", "", "", "", 0, "", "", "", "", 0, 0, 0, 0]  # #102-118
    fields += ["", "", 0, "", "", "", "", ""]  # #119-126
    return frame(fields)


def open_order_end() -> bytes:
    return frame([53, 1])


def order_status(order: SimOrder) -> bytes:
    fields: list[Field] = [3, order.order_id, order.status, order.filled, order.remaining]
    fields += [order.avg_fill_price, order.perm_id, 0, order.last_fill_price, order.client_id]
    fields += ["", ""]
    return frame(fields)


def completed_order(order: SimOrder, currency: str) -> bytes:
    """completedOrder (101): 96 fields at sv 178."""
    completed = order.completed_at or order.updated_at or order.created_at
    fields: list[Field] = [101]
    fields += [*_order_contract(order, currency), order.wire_symbol, order.wire_symbol]  # #1-11
    fields += [order.action, order.quantity, order.order_type, order.limit_price, None, order.tif]
    fields += ["", order.account, "", 0, order.order_ref, order.perm_id, 0, 0, 0, ""]  # #18-27
    fields += ["", "", ""]  # #28-30
    fields += ["", "", "", "", "", 0, "", -1, "", "", "", "", "", 0, 0, 0, "", 0, 0, "", ""]
    fields += ["", ""]  # #52-53
    fields += [0, "", "", "", "", 0, 0, 0, "", "", "", "", "", "", 0, 0]  # #54-69
    fields += _algo(order)  # #70 (+ count and tag/value pairs when set)
    fields += [0, order.status, 0, 0, 0]  # #71-75
    fields += ["", "", "", 0, 0, "", order.filled, 0, 0, "", 0, 0, 0]  # #76-88
    fields += [completed.strftime("%Y%m%d %H:%M:%S UTC"), order.status]  # #89-90
    fields += ["", "", "", "", ""]  # #91-95
    return frame(fields)


def completed_orders_end() -> bytes:
    return frame([102])


def exec_details(req_id: int, order: SimOrder, fill: SimFill, currency: str, venue: str) -> bytes:
    """execDetails (11): 32 fields at sv 178 (pendingPriceRevision last)."""
    fields: list[Field] = [11, req_id, order.order_id]
    fields += [*_order_contract(order, currency), order.wire_symbol, order.wire_symbol]
    fields += [fill.exec_id, fill.time.strftime("%Y%m%d %H:%M:%S UTC"), order.account, venue]
    fields += ["BOT" if order.is_buy else "SLD", fill.quantity, fill.price, order.perm_id]
    fields += [order.client_id, 0, fill.cum_qty, fill.avg_price, order.order_ref, "", "", ""]
    fields += [2, 0]
    return frame(fields)


def exec_details_end(req_id: int) -> bytes:
    return frame([55, 1, req_id])


def commission_report(fill: SimFill, currency: str) -> bytes:
    return frame([59, 1, fill.exec_id, fill.commission, currency, fill.realized_pnl, "", ""])


def frame_handshake(version: int, conn_time: str) -> bytes:
    """Handshake reply: exactly two fields, [serverVersion, connTime]."""
    return frame([version, conn_time])
