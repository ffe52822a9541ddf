"""The seed's path of the strategy run; it lives in ``app.runs.strategy``."""

from app.runs.strategy import ShuttingDownError, StrategyExecutor

__all__ = ["ShuttingDownError", "StrategyExecutor"]
