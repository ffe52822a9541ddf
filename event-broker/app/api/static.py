"""The dashboard (``/``), the API docs (``/docs``) and their files (``/static/...``).

Plain HTML, JavaScript and CSS served from this package: no build step, no CDN, so both
work on a machine without internet. Swagger UI and uPlot are vendored under
``static/vendor/`` with their licences (``static/vendor/README.md`` says where they came
from). The pages themselves hold no data and need no key; every call they make sends the
key from ``sessionStorage`` in the ``X-API-Key`` header. ``/openapi.json`` needs the key too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from app.api.auth import require_api_key

__all__ = ["STATIC_DIR", "mount_static"]

STATIC_DIR = Path(__file__).with_name("static")


def mount_static(app: FastAPI) -> None:
    """Serve the dashboard, the docs page, their files and the (keyed) OpenAPI document."""
    pages = APIRouter(include_in_schema=False)

    @pages.get("/")
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @pages.get("/docs")
    async def docs() -> FileResponse:
        return FileResponse(STATIC_DIR / "docs.html", media_type="text/html")

    @pages.get("/openapi.json", dependencies=[Depends(require_api_key)])
    async def openapi() -> JSONResponse:
        document: dict[str, Any] = app.openapi()
        return JSONResponse(document)

    app.include_router(pages)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
