"""The seed's path of the account run; it lives in ``app.runs.account``."""

from app.runs.account import TradingExecutor, new_run_id
from app.store.files import JOURNAL_FILE, PDT_STATE_FILE

__all__ = ["JOURNAL_FILE", "PDT_STATE_FILE", "TradingExecutor", "new_run_id"]
