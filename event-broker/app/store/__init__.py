"""What the daemon keeps in ``DATA_DIR``: the journal (``journal``, ``journal_schema``) and
the status file read by the health check (``status``)."""

__all__: list[str] = []
