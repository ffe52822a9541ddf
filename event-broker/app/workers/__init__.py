"""Per-account worker processes, as the daemon drives them.

``protocol`` (the request: common fields plus the broker's connection, and how it crosses the
pipe), ``pool`` (runs, timeouts, termination), ``launch`` (new interpreters: ``python -m
app.worker``), ``fork_server``, ``fork_launcher`` and ``fork_connection`` (workers forked from a
pre-started fork server). The worker itself is ``app.worker``.
"""

__all__: list[str] = []
