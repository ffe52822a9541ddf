"""What the daemon keeps in ``DATA_DIR`` (``files`` lists it).

``journal`` and ``journal_schema`` (events, which are also the de-duplication store, runs,
orders (``orders``: an order's row and the trading day its run opens, written together), PDT
trading days, position checks, portfolio snapshots and cash flows (``snapshots``)),
``reconciliation`` (unresolved orders, their resolution, position checks), ``legacy`` (the
previous versions' state, imported once), ``status`` (the file the health check reads).
"""

__all__: list[str] = []
