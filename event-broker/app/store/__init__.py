"""What the daemon keeps in ``DATA_DIR`` (``files`` lists it).

``journal`` and ``journal_schema`` (events, which are also the de-duplication store, runs,
orders (``orders``), portfolio snapshots and cash flows (``snapshots``)), ``legacy`` (the
previous version's state, imported once), ``status`` (the file the health check reads).
"""

__all__: list[str] = []
