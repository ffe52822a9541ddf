"""Contract details and market data requests (snapshot, streaming, delayed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ib_gateway_sim import messages as m
from ib_gateway_sim.scenario import SymbolSpec

if TYPE_CHECKING:
    from ib_gateway_sim.engine import Engine
    from ib_gateway_sim.server import GatewaySimulator
    from ib_gateway_sim.session import Subscriptions

_NO_SECDEF = "No security definition has been found for the request"
_AMBIGUOUS = "The contract description specified for {symbol} is ambiguous."
_NOT_SUBSCRIBED = "Requested market data is not subscribed."
_DELAYED_INSTEAD = "Requested market data is not subscribed. Displaying delayed market data."
_LIVE, _DELAYED = 1, 3


def tick_messages(req_id: int, spec: SymbolSpec, data_type: int) -> list[bytes]:
    """The ticks describing a symbol's current quote (live or delayed tick ids)."""
    delayed = 1 if data_type in (3, 4) else 0
    out: list[bytes] = []
    if spec.bid is not None:
        out.append(m.tick_price(req_id, m.BID[delayed], spec.bid, spec.bid_size, 1))
    if spec.ask is not None:
        out.append(m.tick_price(req_id, m.ASK[delayed], spec.ask, spec.ask_size, 1))
    if spec.last is not None:
        out.append(m.tick_price(req_id, m.LAST[delayed], spec.last, spec.last_size, 0))
    if spec.close is not None:
        out.append(m.tick_price(req_id, m.CLOSE[delayed], spec.close, 0, 0))
    out.append(m.tick_size(req_id, m.VOLUME[delayed], spec.volume))
    return out


def has_quote(spec: SymbolSpec) -> bool:
    """True when the symbol has at least one price to report."""
    return any(p is not None for p in (spec.bid, spec.ask, spec.last, spec.close))


class MarketDataMixin:
    """Handlers for reqContractDetails, reqMktData, cancelMktData and reqMarketDataType."""

    sim: GatewaySimulator
    engine: Engine
    subs: Subscriptions

    def send(self, *payloads: bytes) -> None:
        raise NotImplementedError

    def market_data_handlers(self) -> dict[int, Callable[[list[str]], None]]:
        """Map of message id to handler for this mixin."""
        return {
            9: self._req_contract_details,
            1: self._req_mkt_data,
            2: self._cancel_mkt_data,
            59: self._req_market_data_type,
        }

    def _find_all(self, fields: list[str], isin: str = "") -> list[SymbolSpec]:
        """The symbols a contract (fields 3-14 of the message) describes: conId, ticker and
        primary exchange, or an ISIN; its secType and currency must match when given."""
        con_id, symbol, sec_type, primary, currency = (fields[i] for i in (3, 4, 5, 11, 12))
        found = self.engine.matching(
            int(con_id or "0"), symbol, primary_exchange=primary, isin=isin
        )
        return [
            spec
            for spec in found
            if sec_type in ("", spec.sec_type) and currency in ("", spec.currency)
        ]

    def _req_contract_details(self, fields: list[str]) -> None:
        req_id = int(fields[2])
        isin = fields[17] if len(fields) > 17 and fields[16] == "ISIN" else ""
        if len(fields) > 17 and fields[16] and fields[16] != "ISIN":
            self.send(m.error(req_id, 200, _NO_SECDEF))  # only ISIN lookups are simulated
            return
        specs = self._find_all(fields, isin)
        if not specs:
            self.send(m.error(req_id, 200, _NO_SECDEF))
            return
        # IB answers an ambiguous description with every contract it matches.
        self.send(*(self._details(req_id, spec) for spec in specs), m.contract_details_end(req_id))

    def _details(self, req_id: int, spec: SymbolSpec) -> bytes:
        clock = self.engine.clock
        return m.contract_details(
            req_id,
            symbol=self.engine.ticker(self.engine.symbol_name(spec)),
            sec_type=spec.sec_type,
            exchange=spec.exchange,
            currency=spec.currency,
            con_id=spec.con_id,
            min_tick=spec.min_tick,
            long_name=spec.long_name,
            primary_exchange=spec.primary_exchange,
            timezone=clock.timezone,
            trading_hours=clock.trading_hours(),
            liquid_hours=clock.liquid_hours(),
            stock_type=spec.stock_type,
            isin=spec.isin,
        )

    def _req_market_data_type(self, fields: list[str]) -> None:
        self.subs.market_data_type = int(fields[2])

    def _cancel_mkt_data(self, fields: list[str]) -> None:
        self.subs.market_data.pop(int(fields[2]), None)

    def _req_mkt_data(self, fields: list[str]) -> None:
        req_id = int(fields[2])
        if fields[5] == "BAG":
            self.send(m.error(req_id, 200, _NO_SECDEF))
            return
        specs = self._find_all(fields)
        if len(specs) != 1:
            text = _AMBIGUOUS.format(symbol=fields[4]) if specs else _NO_SECDEF
            self.send(m.error(req_id, 200, text))
            return
        [spec] = specs
        name = self.engine.symbol_name(spec)
        if name in self.sim.faults.no_market_data_symbols or not has_quote(spec):
            self.send(m.error(req_id, 354, _NOT_SUBSCRIBED))
            return
        data_type = self.subs.market_data_type
        payloads: list[bytes] = []
        if data_type in (1, 2) and self.sim.faults.delayed_market_data_only:
            payloads.append(m.error(req_id, 10167, _DELAYED_INSTEAD))
            data_type = _DELAYED if data_type == _LIVE else 4
        payloads.append(m.market_data_type(req_id, data_type))
        payloads += tick_messages(req_id, spec, data_type)
        if fields[17] == "1":
            payloads.append(m.tick_snapshot_end(req_id))
        else:
            self.subs.market_data[req_id] = (name, data_type)
        self.send(*payloads)

    def push_quote(self, symbol: str) -> None:
        """Send the symbol's current quote to every streaming subscription on it."""
        spec = self.engine.symbols[symbol]
        payloads: list[bytes] = []
        for req_id, (name, data_type) in self.subs.market_data.items():
            if name == symbol:
                payloads += tick_messages(req_id, spec, data_type)
        if payloads:
            self.send(*payloads)
