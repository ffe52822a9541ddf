"""The kill switch as the engine sees it: ``HaltSwitch``, asked before every order.

The owner halts all trading at once (the daemon keeps the switch in a file); the engine
asks ``halted()`` before placing each order, and while it waits for fills it also waits on
``wait_halted()``: when the switch goes on, the orders of the round still working are
cancelled and the run stops with ``TradingHaltedError``. A backtest or a test passes no
switch (never halted).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["HaltSwitch"]


@runtime_checkable
class HaltSwitch(Protocol):
    """Whether trading is halted, and a way to wait until it is."""

    def halted(self) -> str | None:
        """The reason given when halting, or ``None`` while trading is allowed."""
        ...

    async def wait_halted(self) -> str:
        """Return the reason as soon as trading is halted (never returns otherwise)."""
        ...
