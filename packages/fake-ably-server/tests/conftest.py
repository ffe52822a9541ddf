"""Fixtures for the fake's own tests: the package's opt-in plugin fixture."""

from fake_ably_server.pytest_plugin import fake_ably

__all__ = ["fake_ably"]
