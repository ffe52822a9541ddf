"""Intake: the realtime subscriber and what it delivers becoming strategy runs.

``subscriber`` (Ably connection, staleness limit, liveness watchdog), ``ably_state`` (key
redaction in the SDK's logs, seen message ids), ``messages`` (``ReceivedMessage``, data
decoding), ``sdk_noise`` (the SDK's own asyncio loose ends as one log line), ``events``
(validate, de-duplicate, journal and dispatch each message)."""

__all__: list[str] = []
