"""The daemon's HTTP API and dashboard (FastAPI on uvicorn, in the daemon's own event loop).

``create_app`` builds the app from a ``Runtime``; ``ApiServer`` serves it on the configured
address (``API_HOST``/``API_PORT``, 127.0.0.1:8000 by default) next to the realtime
subscription. Every endpoint but ``/api/v1/health`` and the static pages needs ``API_KEY``.
"""

from app.api.app import create_app
from app.api.server import ApiServer

__all__ = ["ApiServer", "create_app"]
