"""Portfolio snapshots: the model (``model``), reading one in the worker (``take``), the cash
flows found between two (``flows``) and the daily schedule (``schedule``).

Storage is the journal's (``app.store.snapshots``); the runs that take them are ordinary
account runs of mode ``snapshot`` (``app.runs.snapshots``).
"""

__all__: list[str] = []
