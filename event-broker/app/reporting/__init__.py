"""Performance reports of accounts from their journalled snapshots.

``account_report(journal, account_id, since=...) -> AccountReport`` (``report``): the one
entry point for the CLI (``-report``) and the HTTP API; ``model`` the report's pydantic
shape (also its JSON); ``render`` the ``rich`` tables; ``plot`` the PNG equity curve
(matplotlib, imported only when drawing).
"""

from app.reporting.model import AccountReport
from app.reporting.report import account_report

__all__ = ["AccountReport", "account_report"]
