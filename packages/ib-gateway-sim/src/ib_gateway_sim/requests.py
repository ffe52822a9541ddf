"""Request handlers (client to server messages), mixed into ``Session``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ib_gateway_sim import messages as m
from ib_gateway_sim.engine import Engine
from ib_gateway_sim.history_requests import HistoryMixin
from ib_gateway_sim.marketdata import MarketDataMixin
from ib_gateway_sim.order_wire import PlacedOrder, parse_place_order
from ib_gateway_sim.orders import OrderRequest
from ib_gateway_sim.reports import account_values, portfolio_rows, summary_rows
from ib_gateway_sim.state import ZERO, SimOrder, mark_price
from ib_gateway_sim.wire import integer

if TYPE_CHECKING:
    from ib_gateway_sim.server import GatewaySimulator
    from ib_gateway_sim.session import Subscriptions

Handler = Callable[[list[str]], None]

_FARM_OK = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefnj"),
)
# TWS keeps at most two account summary subscriptions per client open at once.
_MAX_SUMMARY_SUBSCRIPTIONS = 2
_SUMMARY_LIMIT = (
    "Error processing request.-'bd' : cause - Maximum number of account summary requests exceeded"
)


class RequestsMixin(MarketDataMixin, HistoryMixin):
    """Handlers for session, account, position, order and execution requests."""

    sim: GatewaySimulator
    engine: Engine
    subs: Subscriptions
    client_id: int | None

    def send(self, *payloads: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def request_handlers(self) -> dict[int, Handler]:
        """Map of message id to handler."""
        return (
            {
                71: self._start_api,
                61: self._req_positions,
                64: self._cancel_positions,
                6: self._req_account_updates,
                76: self._req_account_updates_multi,
                77: self._cancel_account_updates_multi,
                62: self._req_account_summary,
                63: self._cancel_account_summary,
                5: self._req_open_orders,
                16: self._req_all_open_orders,
                7: self._req_executions,
                99: self._req_completed_orders,
                3: self._place_order,
                4: self._cancel_order,
                58: self._global_cancel,
                49: self._req_current_time,
                8: self._req_ids,
                17: self._req_managed_accounts,
            }
            | self.market_data_handlers()
            | self.history_handlers()
        )

    @property
    def cid(self) -> int:
        """The connection's client id (requests are only dispatched after startApi)."""
        assert self.client_id is not None
        return self.client_id

    # -- session -------------------------------------------------------------------------

    def _start_api(self, fields: list[str]) -> None:
        if self.client_id is not None:
            return  # a repeated startApi on a live session changes nothing
        client_id = int(fields[2])
        if self.sim.client_id_in_use(client_id):
            text = (
                "Unable to connect as the client id is already in use. "
                "Retry with a unique client id."
            )
            self.send(m.error(-1, 326, text))
            self.close()
            return
        self.client_id = client_id
        self.send(
            m.managed_accounts(list(self.engine.accounts)),
            m.next_valid_id(self.engine.next_order_id(client_id)),
            *(m.error(-1, code, text) for code, text in _FARM_OK),
        )

    def _req_current_time(self, fields: list[str]) -> None:
        self.send(m.current_time(int(self.engine.timestamp().timestamp())))

    def _req_ids(self, fields: list[str]) -> None:
        self.send(m.next_valid_id(self.engine.next_order_id(self.cid)))

    def _req_managed_accounts(self, fields: list[str]) -> None:
        self.send(m.managed_accounts(list(self.engine.accounts)))

    # -- positions and accounts ----------------------------------------------------------

    def _req_positions(self, fields: list[str]) -> None:
        self.subs.positions = True
        payloads = [
            self.position_message(name, symbol)
            for name, account in self.engine.accounts.items()
            for symbol in sorted(account.positions)
        ]
        self.send(*payloads, m.position_end())

    def _cancel_positions(self, fields: list[str]) -> None:
        self.subs.positions = False

    def position_message(self, account: str, symbol: str) -> bytes:
        """position (61) for one holding; quantity 0 when it was closed."""
        spec = self.engine.symbols[symbol]
        held = self.engine.accounts[account].positions.get(symbol)
        qty = held.quantity if held else ZERO
        avg = held.avg_cost if held else ZERO
        ticker = self.engine.ticker(symbol)
        return m.position(account, spec.con_id, ticker, spec.exchange, spec.currency, qty, avg)

    def _req_account_updates(self, fields: list[str]) -> None:
        account = fields[3] or next(iter(self.engine.accounts))
        if fields[2] != "1":
            self.subs.account_updates = None
            return
        if account not in self.engine.accounts:
            self.send(m.error(-1, 321, f"Error validating request: unknown account {account}"))
            return
        self.subs.account_updates = account
        payloads = self.account_value_messages(account)
        payloads += [
            self.portfolio_message(account, row[0]) for row in portfolio_rows(self.engine, account)
        ]
        payloads.append(m.account_update_time(self.engine.timestamp()))
        self.send(*payloads, m.account_download_end(account))

    def account_value_messages(self, account: str) -> list[bytes]:
        """accountValue (6) rows for an account."""
        return [
            m.account_value(t, v, c, account) for t, v, c in account_values(self.engine, account)
        ]

    def portfolio_message(self, account: str, symbol: str) -> bytes:
        """portfolioValue (7) for one holding; quantity 0 when it was closed."""
        spec = self.engine.symbols[symbol]
        held = self.engine.accounts[account].positions.get(symbol)
        return m.portfolio_value(
            con_id=spec.con_id,
            symbol=self.engine.ticker(symbol),
            primary_exchange=spec.primary_exchange,
            currency=spec.currency,
            qty=held.quantity if held else ZERO,
            market_price=mark_price(spec),
            avg_cost=held.avg_cost if held else ZERO,
            realized=held.realized_pnl if held else ZERO,
            account=account,
        )

    def _accounts_matching(self, account: str) -> list[str]:
        if account in ("", "All"):
            return list(self.engine.accounts)
        return [account] if account in self.engine.accounts else []

    def _req_account_updates_multi(self, fields: list[str]) -> None:
        req_id = int(fields[2])
        payloads: list[bytes] = []
        for account in self._accounts_matching(fields[3]):
            self.subs.account_multi[req_id] = account
            payloads += self.multi_messages(req_id, account)
        self.send(*payloads, m.account_update_multi_end(req_id))

    def multi_messages(self, req_id: int, account: str) -> list[bytes]:
        """accountUpdateMulti (73) rows for an account."""
        return [
            m.account_update_multi(req_id, account, tag, value, currency)
            for tag, value, currency in account_values(self.engine, account)
        ]

    def _cancel_account_updates_multi(self, fields: list[str]) -> None:
        self.subs.account_multi.pop(int(fields[2]), None)

    def _req_account_summary(self, fields: list[str]) -> None:
        # The subscription stays: TWS pushes changed values until cancelAccountSummary, and
        # ib_async only ever reads its cache after the first request.
        req_id = int(fields[2])
        if len(self.subs.account_summary) >= _MAX_SUMMARY_SUBSCRIPTIONS:
            self.send(m.error(req_id, 322, _SUMMARY_LIMIT))
            return
        tags = {t for t in fields[4].split(",") if t and not t.startswith("$")}
        self.subs.account_summary[req_id] = tags
        payloads = [
            payload
            for account in self.engine.accounts
            for payload in self.summary_messages(req_id, account, tags)
        ]
        self.send(*payloads, m.account_summary_end(req_id))

    def summary_messages(self, req_id: int, account: str, tags: set[str]) -> list[bytes]:
        """accountSummary (63) rows of one account for a subscription."""
        return [
            m.account_summary(req_id, account, tag, value, currency)
            for tag, value, currency in summary_rows(self.engine, account, tags)
        ]

    def _cancel_account_summary(self, fields: list[str]) -> None:
        self.subs.account_summary.pop(int(fields[2]), None)

    # -- orders --------------------------------------------------------------------------

    def order_messages(self, order: SimOrder) -> list[bytes]:
        """openOrder + orderStatus for one order."""
        currency = self.engine.symbols[order.symbol].currency
        return [m.open_order(order, currency), m.order_status(order)]

    def _send_open_orders(self, everyone: bool) -> None:
        payloads: list[bytes] = []
        for order in self.engine.orders.values():
            if order.is_working and (everyone or order.client_id == self.cid):
                payloads += self.order_messages(order)
        self.send(*payloads, m.open_order_end())

    def _req_open_orders(self, fields: list[str]) -> None:
        self._send_open_orders(everyone=self.cid == 0)

    def _req_all_open_orders(self, fields: list[str]) -> None:
        self._send_open_orders(everyone=True)

    def _req_completed_orders(self, fields: list[str]) -> None:
        payloads = [
            m.completed_order(o, self.engine.symbols[o.symbol].currency)
            for o in self.engine.all_orders()
            if not o.is_working and o.listed_completed
        ]
        self.send(*payloads, m.completed_orders_end())

    def _req_executions(self, fields: list[str]) -> None:
        req_id = int(fields[2])
        client_filter = integer(fields[3])
        account, symbol, side = fields[4], fields[6], fields[9]
        payloads: list[bytes] = []
        for order in self.engine.all_orders():
            if not order.listed_executions:
                continue
            if client_filter and order.client_id != client_filter:
                continue
            if (account and order.account != account) or (symbol and order.symbol != symbol):
                continue
            if side and side[0] != ("B" if order.is_buy else "S"):
                continue
            spec = self.engine.symbols[order.symbol]
            for fill in order.fills:
                payloads.append(
                    m.exec_details(req_id, order, fill, spec.currency, spec.primary_exchange)
                )
                payloads.append(m.commission_report(fill, spec.currency))
        self.send(*payloads, m.exec_details_end(req_id))

    def _place_order(self, fields: list[str]) -> None:
        placed = parse_place_order(fields)
        refusal = self._unsupported_order(placed)
        if refusal:
            self.send(m.error(placed.order_id, 201, f"Order rejected - reason:{refusal}"))
            return
        request = OrderRequest(
            client_id=self.cid,
            order_id=placed.order_id,
            con_id=placed.con_id,
            symbol=placed.symbol,
            exchange=placed.exchange,
            action=placed.action,
            quantity=placed.quantity,
            order_type=placed.order_type,
            limit_price=placed.limit_price,
            tif=placed.tif,
            account=placed.account,
            order_ref=placed.order_ref,
            algo_strategy=placed.algo_strategy,
            algo_params=placed.algo_params,
        )
        self.engine.place(request)
        self.sim.order_received()

    @staticmethod
    def _unsupported_order(placed: PlacedOrder) -> str:
        if placed.sec_type not in ("STK", ""):
            return f"Security type {placed.sec_type} is not supported by the simulator"
        if placed.what_if:
            return "whatIf orders are not supported by the simulator"
        if not placed.transmit:
            return "Orders with transmit=False are not supported by the simulator"
        if placed.condition_count:
            return "Conditional orders are not supported by the simulator"
        return ""

    def _cancel_order(self, fields: list[str]) -> None:
        self.engine.client_cancel(self.cid, int(fields[2]))

    def _global_cancel(self, fields: list[str]) -> None:
        for order in list(self.engine.orders.values()):
            self.engine.cancel(order, code=202, text="Order Canceled - reason:")
