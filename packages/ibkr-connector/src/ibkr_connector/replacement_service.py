"""Re-export: replacement sets moved to ``rebalance_engine.replacement_service``."""

from rebalance_engine.replacement_service import Replacement, ReplacementService

__all__ = ["Replacement", "ReplacementService"]
