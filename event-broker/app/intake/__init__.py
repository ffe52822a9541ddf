"""Intake: the realtime subscriber and what it delivers becoming strategy runs.

``subscriber`` (Ably connection, staleness limit, liveness watchdog), ``redaction`` (the key
kept out of the SDK's logs), ``messages`` (``ReceivedMessage``, data decoding), ``sdk_noise``
(the SDK's own asyncio loose ends as one log line), ``events`` (claim the message id in the
journal, validate, dispatch each message).
"""

__all__: list[str] = []
