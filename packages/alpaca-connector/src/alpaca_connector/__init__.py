"""Alpaca connector: ``BrokerClient`` over the official alpaca-py SDK."""

from alpaca_connector.client import AlpacaClient
from alpaca_connector.config import AlpacaConnectionConfig

__version__ = "1.0.0"

__all__ = ["AlpacaClient", "AlpacaConnectionConfig", "__version__"]
