"""The seed's import paths for the daemon's services, kept for their importers.

The code lives in the parts of ``app``: ``app.intake`` (realtime subscriber), ``app.runs``
(account and strategy runs, PDT protection) and ``app.notify`` (notifications). Each module
here only re-exports; new code imports from the parts.
"""

__all__: list[str] = []
