"""What the fake keeps of each channel's messages, and the three ways a client reads them back.

Ably keeps a channel's messages for a while (two minutes by default; hours or days when the app
persists history) and serves that one store three ways, all read from :class:`ChannelHistory`:

- REST history, ``GET /channels/<ch>/messages`` with ``start``, ``end`` (milliseconds,
  inclusive), ``direction`` (``backwards``, the default, newest first; or ``forwards``) and
  ``limit`` (default 100, at most 1000), pages linked by ``Link`` headers: what the SDK's
  ``channel.history()`` calls (:meth:`ChannelHistory.page`);
- the ``rewind`` channel param on a first attach (``"10"``: the last 10 messages; ``"2m"`` or
  ``"30s"``: those of the last 2 minutes or 30 seconds; at most 100 messages either way), what
  ``ChannelOptions(params={"rewind": ...})`` sends (:meth:`ChannelHistory.rewind`);
- a resumed re-attach: the messages after the client's ``channelSerial``
  (:meth:`ChannelHistory.after_serial`).

A message's age is judged by its ``timestamp`` (the time Ably received it), so a message
published with an old ``timestamp_ms`` is outside a short retention at once, as it would be.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_RETENTION_SECS",
    "MAX_LIMIT",
    "MAX_REWIND_MESSAGES",
    "ChannelHistory",
    "HistoryPage",
    "HistoryQuery",
    "HistoryQueryError",
]

DEFAULT_RETENTION_SECS = 120.0
"""Ably's retention without persisted history: two minutes."""

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_REWIND_MESSAGES = 100

_REWIND_TIME = re.compile(r"^(\d+)([sm])$")
_UNIT_MS = {"s": 1000, "m": 60_000}


class HistoryQueryError(ValueError):
    """A history query parameter has a value Ably would refuse (HTTP 400)."""


@dataclass(frozen=True)
class HistoryQuery:
    """One REST history request, validated.

    ``cursor`` is the position (``channelSerial``, index in its frame) of the first message of a
    later page; it travels in the ``next`` link only, as Ably's own opaque paging parameters do.
    """

    start_ms: int
    end_ms: int
    backwards: bool
    limit: int
    cursor: tuple[int, int] | None = None

    @classmethod
    def from_params(cls, params: dict[str, str], *, now_ms: int) -> HistoryQuery:
        """Parse the query string of ``GET /channels/<ch>/messages``.

        Raises:
            HistoryQueryError: A value that is not an integer, a ``limit`` outside 1..1000, an
                unknown ``direction``, ``start`` after ``end``, or a malformed cursor.
        """
        start = _integer(params, "start", 0)
        end = _integer(params, "end", now_ms)
        limit = _integer(params, "limit", DEFAULT_LIMIT)
        direction = params.get("direction", "backwards")
        if direction not in ("backwards", "forwards"):
            raise HistoryQueryError(f"direction must be backwards or forwards, got {direction!r}")
        if not 1 <= limit <= MAX_LIMIT:
            raise HistoryQueryError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
        if start > end:
            raise HistoryQueryError(f"start ({start}) must not be after end ({end})")
        cursor = None
        if "cursor" in params:
            serial, _, index = params["cursor"].partition(".")
            if not (serial.isdigit() and index.isdigit()):
                raise HistoryQueryError(f"malformed cursor {params['cursor']!r}")
            cursor = (int(serial), int(index))
        return cls(start, end, direction == "backwards", limit, cursor)

    def link_params(self, cursor: tuple[int, int] | None) -> dict[str, str]:
        """The query of a link to this result set: ``end`` pinned, so pages do not shift."""
        params = {
            "start": str(self.start_ms),
            "end": str(self.end_ms),
            "direction": "backwards" if self.backwards else "forwards",
            "limit": str(self.limit),
        }
        if cursor is not None:
            params["cursor"] = f"{cursor[0]}.{cursor[1]}"
        return params


@dataclass(frozen=True)
class HistoryPage:
    """One page of REST history: message dicts as Ably serves them, and the next page's cursor."""

    items: list[dict[str, Any]]
    next_cursor: tuple[int, int] | None


class ChannelHistory:
    """Per-channel MESSAGE frames, oldest first, pruned by age and by count.

    Args:
        retention_secs: How long a message stays retrievable, judged by its timestamp.
        max_frames: At most this many frames per channel (oldest dropped).
    """

    def __init__(
        self, *, retention_secs: float = DEFAULT_RETENTION_SECS, max_frames: int = 10_000
    ) -> None:
        self.retention_secs = retention_secs
        self.max_frames = max_frames
        self._frames: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def append(self, channel: str, frame: dict[str, Any]) -> None:
        """Keep a MESSAGE frame (its ``channelSerial`` must be above every kept one)."""
        frames = self._frames[channel]
        frames.append(frame)
        if len(frames) > self.max_frames:
            del frames[: len(frames) - self.max_frames]

    def frames(self, channel: str, *, now_ms: int | None = None) -> list[dict[str, Any]]:
        """The frames still retained on ``channel``, oldest first (expired ones are dropped)."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        oldest = now - int(self.retention_secs * 1000)
        # Not a prefix cut: a test may publish with any timestamp, in any order.
        kept = [frame for frame in self._frames[channel] if frame["timestamp"] >= oldest]
        self._frames[channel] = kept
        return list(kept)

    def after_serial(self, channel: str, since: int) -> list[dict[str, Any]]:
        """Frames after ``channelSerial`` ``since``, for a resumed re-attach."""
        return [f for f in self.frames(channel) if int(f["channelSerial"]) > since]

    def rewind(
        self, channel: str, rewind: str, *, now_ms: int | None = None
    ) -> list[dict[str, Any]]:
        """Frames for a first attach with ``params.rewind``; an unparsable value rewinds nothing.

        Rewind counts messages, not frames: a count that cuts into a frame sends only its
        selected messages, each with its id made explicit so the SDK does not renumber them.
        """
        now = int(time.time() * 1000) if now_ms is None else now_ms
        items = list(_positions(self.frames(channel, now_ms=now)))
        timed = _REWIND_TIME.match(rewind)
        if timed:
            since = now - int(timed.group(1)) * _UNIT_MS[timed.group(2)]
            items = [item for item in items if item[0]["timestamp"] >= since]
        elif rewind.isdigit():
            items = items[len(items) - int(rewind) :] if int(rewind) else []
        else:
            return []
        return _regroup(items[-MAX_REWIND_MESSAGES:])

    def page(self, channel: str, query: HistoryQuery) -> HistoryPage:
        """One page of REST history for ``query``."""
        items = [
            (frame, index)
            for frame, index in _positions(self.frames(channel))
            if query.start_ms <= frame["timestamp"] <= query.end_ms
            and _after_cursor(frame, index, query)
        ]
        if query.backwards:
            items.reverse()
        more = items[query.limit :]
        next_cursor = (int(more[0][0]["channelSerial"]), more[0][1]) if more else None
        return HistoryPage([_rest_item(f, i) for f, i in items[: query.limit]], next_cursor)


def _rest_item(frame: dict[str, Any], index: int) -> dict[str, Any]:
    """One message of a frame as REST history serves it: its own fields plus the frame's.

    The id, connection id and timestamp a realtime client derives from the protocol message
    (TM2a, TM2c, TM2f) are explicit here, as Ably's REST responses carry them.
    """
    message = frame["messages"][index]
    return {
        **message,
        "id": message.get("id") or f"{frame['id']}:{index}",
        "connectionId": message.get("connectionId") or frame["connectionId"],
        "timestamp": message.get("timestamp") or frame["timestamp"],
    }


def _positions(frames: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    return [(frame, index) for frame in frames for index in range(len(frame["messages"]))]


def _after_cursor(frame: dict[str, Any], index: int, query: HistoryQuery) -> bool:
    """Whether a message is at or beyond the cursor of a later page (in the query's direction)."""
    if query.cursor is None:
        return True
    position = (int(frame["channelSerial"]), index)
    return position <= query.cursor if query.backwards else position >= query.cursor


def _regroup(items: list[tuple[dict[str, Any], int]]) -> list[dict[str, Any]]:
    """Frames holding just ``items`` (consecutive messages), each message's id explicit."""
    frames: list[dict[str, Any]] = []
    for frame, index in items:
        message = {**frame["messages"][index]}
        message.setdefault("id", f"{frame['id']}:{index}")
        if frames and frames[-1]["channelSerial"] == frame["channelSerial"]:
            frames[-1]["messages"].append(message)
        else:
            frames.append({**frame, "messages": [message]})
    return frames


def _integer(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise HistoryQueryError(f"{name} must be an integer, got {raw!r}") from None
