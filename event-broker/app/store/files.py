"""What the daemon keeps in ``DATA_DIR``, and under which names.

=====================================  ==========================================================
``journal.sqlite3``                    events (each message id once: the de-duplication store),
                                       runs, orders, portfolio snapshots and cash flows, PDT
                                       trading days and position checks
                                       (``app.store.journal``); daemon, CLI and workers write it
``journal.sqlite3.schema-vN.bak``      the journal as version N left it, copied before it was
                                       migrated (``app.store.journal_schema``)
``pdt-state.sqlite3``                  the previous version's PDT state; imported into the
                                       journal at start and renamed
                                       ``pdt-state.imported.sqlite3`` (``app.store.legacy``)
``daemon-status.json``                 what ``--check`` reads (``app.store.status``)
``trading-halted.json``                the kill switch: present while trading is halted
                                       (``app.store.halt``, ``tools/rebalance.sh -halt``)
``locks/<account>.lock``               one run per account at a time (``app.runs.locks``)
``ib-pacing-<host>-<port>``            the message window every process shares for one IB
                                       gateway (``ibkr_connector.gateway_pacing``)
``ib-quotes-<host>-<port>.sqlite3``    fresh quotes one IB gateway's workers share, and the
``ib-quotes-<host>-<port>.lock``       lock that lets one of them fetch at a time
                                       (``ibkr_connector.shared_quotes``)
``ib-contracts-<host>-<port>.lock``    lets one of a gateway's workers look contracts up at a
                                       time, the others then read them from the contract cache
                                       (``ibkr_connector.contract_cache``)
``quotes.sqlite3``                     streamed bid/ask of the strategies' symbols, written by
                                       the quote recorder (``app.quotes``), read for arrival
                                       prices and spreads
``ably-seen-messages.sqlite3``         the previous version's seen message ids; imported into
                                       the journal at start and renamed
                                       ``ably-seen-messages.imported.sqlite3``
                                       (``app.store.legacy``)
=====================================  ==========================================================

The broker connectors keep their own caches there too (the IB price and contract caches).
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "JOURNAL_FILE",
    "LEGACY_SEEN_FILE",
    "LEGACY_SEEN_IMPORTED_FILE",
    "PDT_STATE_FILE",
    "PDT_STATE_IMPORTED_FILE",
    "QUOTES_FILE",
    "ib_pacing_file",
]

JOURNAL_FILE = "journal.sqlite3"
PDT_STATE_FILE = "pdt-state.sqlite3"
QUOTES_FILE = "quotes.sqlite3"
PDT_STATE_IMPORTED_FILE = "pdt-state.imported.sqlite3"
LEGACY_SEEN_FILE = "ably-seen-messages.sqlite3"
LEGACY_SEEN_IMPORTED_FILE = "ably-seen-messages.imported.sqlite3"


def ib_pacing_file(data_dir: Path, host: str, port: int) -> Path:
    """The shared message window of the IB gateway at ``host``:``port``."""
    safe = "".join(c if c.isalnum() or c in ".-" else "_" for c in host)
    return data_dir / f"ib-pacing-{safe}-{port}"
