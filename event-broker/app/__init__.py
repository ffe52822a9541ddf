"""Event broker daemon: turns strategy signals into account rebalances through a broker."""

__version__ = "1.0.0"

__all__ = ["__version__"]
