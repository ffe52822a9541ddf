"""Account and strategy runs and their guards.

``account`` (one account run: lock, PDT guard, journal, worker, notification), ``strategy`` (the
accounts of one strategy in parallel, bounded, and shutdown), ``requests`` (the worker request
from the configuration), ``locks`` (cross-process account lock), ``pdt`` (PDT protection
state), ``recovery`` (runs a previous process left unfinished).
"""

__all__: list[str] = []
