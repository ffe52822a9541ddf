"""Daemon services: PDT protection, notifications, strategy and account execution."""

__all__: list[str] = []
