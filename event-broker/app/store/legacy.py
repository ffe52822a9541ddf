"""State left in ``DATA_DIR`` by previous versions, brought into the journal once.

One version kept the ids of handled Ably messages in a file of their own
(``ably-seen-messages.sqlite3``, table ``seen_messages``) besides journalling each event. The
journal's events are now the only de-duplication store, so at start-up the old file's ids are
recorded as events (payload unknown) and the file is renamed: a message the old version
handled is still refused when it is delivered again.

PDT protection kept each account's last executed rebalance in ``pdt-state.sqlite3`` (table
``pdt_executions``), written by the daemon after the worker ended. The trading days now live in
the journal (``pdt_days``, written with each run's first order), so the old file's days are
imported (as used by an unknown, complete run: the day stays refused) and the file is renamed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from broker_connector_base import InvalidInputError
from broker_connector_base.types import trading_day

from app.store.files import (
    LEGACY_SEEN_FILE,
    LEGACY_SEEN_IMPORTED_FILE,
    PDT_STATE_FILE,
    PDT_STATE_IMPORTED_FILE,
)
from app.store.journal import Journal

__all__ = ["IMPORTED_OUTCOME", "import_legacy_pdt_state", "import_legacy_seen_ids"]

logger = logging.getLogger(__name__)

IMPORTED_OUTCOME = f"imported from {LEGACY_SEEN_FILE} (handled by the previous version)"
"""The journal outcome of an event known only from the old file."""


def _read_seen(path: Path) -> list[tuple[str, str, datetime]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT message_id, channel, seen_at_ms FROM seen_messages ORDER BY rowid"
        ).fetchall()
    return [
        (str(message_id), str(channel), datetime.fromtimestamp(int(seen_at_ms) / 1000, UTC))
        for message_id, channel, seen_at_ms in rows
    ]


def import_legacy_seen_ids(journal: Journal, data_dir: Path) -> int:
    """Record the previous version's seen message ids in ``journal``, then rename its file.

    Safe to run by several processes at once and again after a crash: ids already in the
    journal are skipped, and a file another process renamed first is simply gone.

    Returns:
        How many ids were new to the journal (0 when there is no old file).

    Raises:
        InvalidInputError: The old file exists but cannot be read; it is left in place, and
            nothing starts, rather than forget which messages already ran.
    """
    path = data_dir / LEGACY_SEEN_FILE
    if not path.exists():
        return 0
    try:
        seen = _read_seen(path)
    except (sqlite3.Error, ValueError, OverflowError) as exc:
        raise InvalidInputError(
            f"cannot read the previous version's seen message ids ({exc}); without them a "
            "message that already ran could run again. Move the file aside to start anyway",
            str(path),
        ) from exc
    added = journal.import_seen_ids(seen, outcome=IMPORTED_OUTCOME)
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, data_dir / LEGACY_SEEN_IMPORTED_FILE)
    logger.info(
        "Imported %d seen message ids (%d new) from %s into the journal; the file is now %s",
        len(seen),
        added,
        path,
        LEGACY_SEEN_IMPORTED_FILE,
    )
    return added


def _read_pdt(path: Path) -> list[tuple[str, datetime]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT account_id, last_executed FROM pdt_executions").fetchall()
    out = []
    for account_id, last_executed in rows:
        moment = datetime.fromisoformat(str(last_executed))
        out.append((str(account_id), moment if moment.tzinfo else moment.replace(tzinfo=UTC)))
    return out


def import_legacy_pdt_state(journal: Journal, data_dir: Path) -> int:
    """Record the previous version's PDT days in ``journal``, then rename its file.

    Safe to run again and by several processes (days already there are kept).

    Returns:
        How many accounts' days were read (0 when there is no old file).

    Raises:
        InvalidInputError: The old file exists but cannot be read; it is left in place and
            nothing starts, rather than allow a second rebalance on a day already used.
    """
    path = data_dir / PDT_STATE_FILE
    if not path.exists():
        return 0
    try:
        days = _read_pdt(path)
    except (sqlite3.Error, ValueError) as exc:
        raise InvalidInputError(
            f"cannot read the previous version's PDT state ({exc}); without it an account "
            "could be rebalanced twice on a day. Move the file aside to start anyway",
            str(path),
        ) from exc
    with journal.transaction() as conn:
        for account_id, moment in days:
            conn.execute(
                "INSERT INTO pdt_days (account_id, trading_day, run_id, first_order_at)"
                " VALUES (?, ?, NULL, ?) ON CONFLICT (account_id, trading_day) DO NOTHING",
                (
                    account_id,
                    trading_day(moment).isoformat(),
                    moment.astimezone(UTC).isoformat(timespec="microseconds"),
                ),
            )
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, data_dir / PDT_STATE_IMPORTED_FILE)
    logger.info(
        "Imported the PDT days of %d accounts from %s into the journal; the file is now %s",
        len(days),
        path,
        PDT_STATE_IMPORTED_FILE,
    )
    return len(days)
