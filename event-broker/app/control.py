"""The kill switch commands: ``tools/rebalance.sh -halt "reason"`` and ``-resume``.

Halting writes ``DATA_DIR/trading-halted.json`` (``app.store.halt``): from then on no new
order is placed by any process sharing ``DATA_DIR`` (workers ask before every order), the
orders of runs in progress are cancelled by their workers, and every later ``rebalance`` run
is refused until resumed. Both commands are journalled (an event on the ``control`` channel
with the reason and who gave it) and notified. They need the settings only (``DATA_DIR``,
``NOTIFICATION_URLS``): a broken accounts file never keeps the owner from halting.
"""

from __future__ import annotations

import json
import logging
import os
import uuid

from app.config.settings import Settings
from app.notify.notifier import NotificationService
from app.store.files import JOURNAL_FILE
from app.store.halt import HaltState, clear_halt, read_halt, write_halt
from app.store.journal import Journal

__all__ = ["CONTROL_CHANNEL", "halt_trading", "resume_trading"]

logger = logging.getLogger(__name__)

CONTROL_CHANNEL = "control"
"""The journal's channel for the owner's commands (halt, resume)."""


def _who() -> str:
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or str(os.getuid())
    return f"{user}@{os.uname().nodename}"


def _journal(settings: Settings, action: str, payload: dict[str, str], outcome: str) -> None:
    with Journal(settings.data_dir / JOURNAL_FILE) as journal:
        row = journal.record_event(
            event_id=f"{action}-{uuid.uuid4().hex[:12]}",
            channel=CONTROL_CHANNEL,
            payload=json.dumps({"action": action, **payload}),
        )
        journal.set_event_outcome(row, outcome)


async def halt_trading(settings: Settings, reason: str) -> HaltState:
    """Halt all trading now, recording ``reason``.

    Raises:
        ValueError: The reason is empty or longer than 500 characters.
    """
    state = write_halt(settings.data_dir, reason=reason, halted_by=_who())
    _journal(
        settings,
        "halt",
        {"reason": state.reason, "halted_by": state.halted_by},
        f"trading halted: {state.reason}",
    )
    logger.critical("%s", state.describe())
    await NotificationService(settings.notification_urls).notify(
        title="Trading HALTED",
        body=(
            f"{state.describe()}\nNo new order is placed, orders of runs in progress are "
            "cancelled, and every rebalance is refused until `tools/rebalance.sh -resume`."
        ),
        level="failure",
    )
    return state


async def resume_trading(settings: Settings) -> HaltState | None:
    """Resume trading; the halt that was lifted (``None``: trading was not halted)."""
    data_dir = settings.data_dir
    if read_halt(data_dir) is None:
        return None
    previous = clear_halt(data_dir)
    since = f" (halted {previous.describe()})" if previous is not None else ""
    _journal(settings, "resume", {"resumed_by": _who()}, f"trading resumed{since}")
    logger.warning("Trading resumed%s", since)
    await NotificationService(settings.notification_urls).notify(
        title="Trading resumed",
        body=f"Trading resumed by {_who()}{since}.",
        level="success",
    )
    return previous
