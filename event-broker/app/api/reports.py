"""Performance reports for the API: ``account_report`` off the event loop, cached as JSON.

A report reads every snapshot and cash flow of the account and measures them (numpy), which
takes milliseconds to tens of milliseconds for years of days: too long for the loop that
also takes signals. So it is built in a worker thread, on that thread's own read-only
connection and inside one read transaction (the snapshots, the flows and the drift all see
one state of the journal), and its JSON is kept until the journal changes
(``JournalReader.data_version``, read on the loop). Requests that arrive while a report is
being built wait for that same build.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from datetime import date

from app.reporting import account_report
from app.store.queries import JournalReader

__all__ = ["AccountReports"]

_Key = tuple[str, date | None]


class AccountReports:
    """``AccountReport`` JSON per account and ``since``, rebuilt when the journal changes.

    Args:
        reader: The daemon's journal reader.
        max_entries: Reports kept (least recently asked for dropped first).
    """

    def __init__(self, reader: JournalReader, *, max_entries: int = 64) -> None:
        self.reader = reader
        self.max_entries = max_entries
        self._cache: OrderedDict[_Key, tuple[int, bytes]] = OrderedDict()
        self._building: dict[tuple[int, _Key], asyncio.Future[bytes]] = {}

    async def report_json(self, account_id: str, since: date | None) -> bytes:
        """The report of ``account_id`` from ``since`` as of the journal now, as JSON.

        Raises:
            InvalidInputError: The stored snapshots cannot be measured (``account_report``).
        """
        version = self.reader.data_version()
        key = (account_id, since)
        cached = self._cache.get(key)
        if cached is not None and cached[0] == version:
            self._cache.move_to_end(key)
            return cached[1]
        build = self._building.get((version, key))
        if build is None:
            build = asyncio.ensure_future(asyncio.to_thread(self._build, account_id, since))
            self._building[(version, key)] = build
            build.add_done_callback(lambda _: self._building.pop((version, key), None))
        # Shielded: a client that goes away does not cancel a build others may be waiting on.
        body = await asyncio.shield(build)
        self._cache[key] = (version, body)
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return body

    def _build(self, account_id: str, since: date | None) -> bytes:
        with self.reader.read_transaction():
            report = account_report(self.reader, account_id, since=since)
        return report.model_dump_json().encode()
