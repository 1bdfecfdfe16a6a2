"""The dashboard at `/` and the API's docs page at `/docs`, with every script and
stylesheet served from this process: the dashboard's own files, its charting library
(lightweight-charts, with its licence, as `dashboard_vendor` installed it) and Swagger
UI's as the `swagger-ui-py` package ships it. Nothing is fetched from another site, so
both work offline."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from backend.dashboard_vendor import LIGHTWEIGHT_CHARTS

__all__ = ["install_dashboard"]

logger = logging.getLogger(__name__)

DASHBOARD_FILES = Path(__file__).resolve().parent.parent / "dashboard"


def _package_folder(name: str) -> Path:
    """Where an installed package's files are, without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the package {name} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


SWAGGER_UI = _package_folder("swagger_ui") / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
async def dashboard() -> FileResponse:
    return FileResponse(DASHBOARD_FILES / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/docs")
async def api_docs() -> FileResponse:
    """Swagger UI, started by a script file (`docs.js`): the Content-Security-Policy
    runs no inline script."""
    return FileResponse(DASHBOARD_FILES / "docs.html", headers={"Cache-Control": "no-cache"})


def install_dashboard(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=DASHBOARD_FILES), name="dashboard")
    app.mount("/vendor/swagger-ui", StaticFiles(directory=SWAGGER_UI), name="swagger-ui")
    if not LIGHTWEIGHT_CHARTS.installed():
        logger.error(
            "the dashboard's charts are missing (%s): run `python -m backend.dashboard_vendor`",
            LIGHTWEIGHT_CHARTS.folder,
        )
    charts = StaticFiles(directory=LIGHTWEIGHT_CHARTS.folder, check_dir=False)
    app.mount("/vendor/lightweight-charts", charts, name="lightweight-charts")
