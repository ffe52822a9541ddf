"""The seed's path of the notifications; they live in ``app.notify.notifier``."""

from app.notify.notifier import NotificationLevel, NotificationService, format_account_result

__all__ = ["NotificationLevel", "NotificationService", "format_account_result"]
