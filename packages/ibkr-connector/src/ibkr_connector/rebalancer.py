"""``IBKRRebalancer``: the engine's ``Rebalancer`` under the name and module path callers use.

Everything a rebalance does lives in ``rebalance_engine.Rebalancer`` and works through the
``BrokerClient`` contract alone; ``IBKRClient`` supplies the IB-specific parts through that
contract (pushed position updates in ``wait_for_positions``, quote fallbacks in
``take_warnings``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from broker_connector_base import BrokerClient, Trade
from rebalance_engine import AllocationSource, Rebalancer, ReplacementService

__all__ = ["IBKRRebalancer"]


class IBKRRebalancer(Rebalancer):
    """``Rebalancer`` taking its allocation source as ``allocation_service`` (the seed's name).

    Args:
        broker_client: A connected client (normally an ``IBKRClient``).
        logger: Logger for this rebalancer's messages.
        allocation_service: Where target allocations come from (``AllocationService``, or any
            ``AllocationSource``).
        replacement_service: Replacement sets, for accounts with ``replacement_set``.
        run_id: Tag stored with every order (IB ``orderRef``); a fresh id when ``None``.
        on_order: Called with each order when acknowledged and again when its wait ends.
        fill_timeout_secs: How long each phase may wait for fills.
        cancel_timeout_secs: How long cancelling the account's open orders may take.
        settle_timeout_secs: How long to wait for positions to show the fills.
        extra_rounds: Further sell-then-buy rounds after the first (see ``Rebalancer``).
    """

    def __init__(
        self,
        broker_client: BrokerClient,
        logger: logging.Logger | None = None,
        *,
        allocation_service: AllocationSource,
        replacement_service: ReplacementService | None = None,
        run_id: str | None = None,
        on_order: Callable[[Trade], None] | None = None,
        fill_timeout_secs: float = 120.0,
        cancel_timeout_secs: float = 30.0,
        settle_timeout_secs: float = 10.0,
        extra_rounds: int = 2,
    ) -> None:
        super().__init__(
            broker_client,
            logger or logging.getLogger(__name__),
            allocation_source=allocation_service,
            replacement_service=replacement_service,
            run_id=run_id,
            on_order=on_order,
            fill_timeout_secs=fill_timeout_secs,
            cancel_timeout_secs=cancel_timeout_secs,
            settle_timeout_secs=settle_timeout_secs,
            extra_rounds=extra_rounds,
        )

    @property
    def allocation_service(self) -> AllocationSource:
        """The allocation source (the seed's name for it)."""
        return self.allocation_source
