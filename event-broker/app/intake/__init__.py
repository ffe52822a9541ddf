"""Intake: the realtime subscriber and what it delivers becoming strategy runs.

``subscriber`` (Ably connection, staleness verdict, liveness watchdog), ``link`` (the link's
state for the health check), ``delivery`` (one ordered hand-off, gaps caught up in place),
``catch_up`` and ``history`` (what a gap missed, read back from the channel's Ably history),
``redaction`` (the key kept out of the SDK's logs), ``messages`` (``ReceivedMessage``,
staleness, data decoding), ``sdk_noise`` (the SDK's own asyncio loose ends as one log line),
``events`` (claim the message id in the journal, validate, dispatch each message).
"""

__all__: list[str] = []
