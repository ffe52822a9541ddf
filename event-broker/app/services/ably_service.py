"""The seed's path of the Ably subscriber; it lives in ``app.intake.subscriber``."""

from app.intake.messages import ReceivedMessage, decode_message_data
from app.intake.subscriber import AblyConnectionFailed, AblyService

__all__ = ["AblyConnectionFailed", "AblyService", "ReceivedMessage", "decode_message_data"]
