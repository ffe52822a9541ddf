"""Turns engine events into wire messages for the sessions that should see them."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ib_gateway_sim import messages as m
from ib_gateway_sim.state import SimFill, SimOrder

if TYPE_CHECKING:
    from ib_gateway_sim.server import GatewaySimulator
    from ib_gateway_sim.session import Session


class Fanout:
    """The engine's listener: order messages to the placing client, account pushes to
    subscribers (coalesced per burst)."""

    def __init__(self, sim: GatewaySimulator) -> None:
        self.sim = sim
        self._dirty: dict[str, set[str]] = {}
        self._flush_scheduled = False

    def _owners(self, client_id: int) -> list[Session]:
        return [s for s in self.sim.sessions if s.client_id == client_id]

    def order_status(self, order: SimOrder, *, with_open_order: bool) -> None:
        """Send openOrder (optionally) and orderStatus to the placing client."""
        currency = self.sim.engine.symbols[order.symbol].currency
        payloads = [m.open_order(order, currency)] if with_open_order else []
        payloads.append(m.order_status(order))
        for session in self._owners(order.client_id):
            session.send(*payloads)
        self.sim.notify_changed()

    def order_filled(self, order: SimOrder, fill: SimFill) -> None:
        """Send the fill sequence of the reference §7.1 to the placing client."""
        spec = self.sim.engine.symbols[order.symbol]
        execution = m.exec_details(-1, order, fill, spec.currency, spec.primary_exchange)
        status = [m.order_status(order)]
        if order.status == "Filled":
            status.insert(0, m.open_order(order, spec.currency))
        if self.sim.engine.fill_spec.filled_status_before_exec:
            payloads = [*status, execution]
        else:
            payloads = [execution, *status]
        payloads.append(m.commission_report(fill, spec.currency))
        for session in self._owners(order.client_id):
            session.send(*payloads)
        self.sim.notify_changed()

    def order_cancelled(self, order: SimOrder, code: int | None, text: str) -> None:
        """Send error (202/201) if any, then orderStatus Cancelled."""
        payloads = [m.error(order.order_id, code, text)] if code is not None else []
        payloads.append(m.order_status(order))
        for session in self._owners(order.client_id):
            session.send(*payloads)
        self.sim.notify_changed()

    def order_warning(self, order: SimOrder, code: int, text: str) -> None:
        """Send a warning error message for a live order to its client."""
        for session in self._owners(order.client_id):
            session.send(m.error(order.order_id, code, text))
        self.sim.notify_changed()

    def order_refused(self, client_id: int, order_id: int, code: int, text: str) -> None:
        """Send only the error; ib_async marks the trade Cancelled."""
        for session in self._owners(client_id):
            session.send(m.error(order_id, code, text))
        self.sim.notify_changed()

    def cancel_refused(self, client_id: int, order_id: int, code: int, text: str) -> None:
        """Send the 10147/10148 error to the cancelling client; the order is unchanged."""
        self.order_refused(client_id, order_id, code, text)

    def account_changed(self, account: str, symbol: str | None) -> None:
        """Queue position, portfolio and account-value pushes for subscribed sessions.

        Pushes are coalesced until the current burst of requests has been handled (as TWS
        batches account updates), so a burst of fills sends one set of account values.
        """
        symbols = self._dirty.setdefault(account, set())
        if symbol is not None:
            symbols.add(symbol)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_accounts)
        self.sim.notify_changed()

    def _flush_accounts(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, {}
        for account, symbols in dirty.items():
            if account not in self.sim.engine.accounts:
                continue  # reset() since the change
            for session in list(self.sim.sessions):
                if session.is_ready:
                    session.send(*self._account_payloads(session, account, sorted(symbols)))

    def _account_payloads(self, session: Session, account: str, symbols: list[str]) -> list[bytes]:
        subs = session.subs
        payloads: list[bytes] = []
        if subs.positions:
            payloads += [session.position_message(account, s) for s in symbols]
        if subs.account_updates == account:
            payloads += [session.portfolio_message(account, s) for s in symbols]
            payloads += session.account_value_messages(account)
            payloads.append(m.account_update_time(self.sim.clock.now()))
        for req_id, multi_account in subs.account_multi.items():
            if multi_account == account:
                payloads += session.multi_messages(req_id, account)
        for req_id, tags in subs.account_summary.items():
            payloads += session.summary_messages(req_id, account, tags)
        return payloads
