"""Telling people what happened: Apprise notifications (``notifier``) and the CLI's trade
tables (``report``)."""

__all__: list[str] = []
