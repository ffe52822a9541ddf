"""The rebalancer interface every connector implements."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod

from broker_connector_base.base_client import BrokerClient
from broker_connector_base.models import AccountConfig, CalculateRebalanceResult, RebalanceResult

__all__ = ["BaseRebalancer"]


class BaseRebalancer(ABC):
    """Turns an account's target allocations into trades through one ``BrokerClient``."""

    def __init__(self, broker_client: BrokerClient, logger: logging.Logger | None = None) -> None:
        self.broker = broker_client
        self.logger = logger or logging.getLogger(__name__)

    @abstractmethod
    async def rebalance_account(self, account_config: AccountConfig) -> RebalanceResult:
        """Execute a rebalance: cancel stale orders, sell, wait, buy with the cash freed.

        A failure is reported in the result (``success=False`` with ``error``), with every
        order that was placed before it.
        """

    @abstractmethod
    async def calculate_rebalance(self, account_config: AccountConfig) -> CalculateRebalanceResult:
        """Preview: the trades a rebalance would place now. Places nothing."""
