"""The read-only web dashboard (FastAPI): campaigns, one campaign, one iteration.

Every page has a stable URL (``/``, ``/campaigns/<namespace>/<name>``,
``/campaigns/<namespace>/<name>/iterations/<index>``) and stays live: the page fetches its own
``?fragment=1`` every few seconds and redraws what changed, so a running campaign updates
without a reload. The same data as JSON under ``/api/...``. Only GET routes exist.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates

from ftoperator.dashboard.sources import Source
from ftoperator.dashboard.views import (
    campaign_grid,
    campaign_row,
    campaign_view,
    iteration_view,
)

HERE = Path(__file__).resolve().parent
REFRESH_MS = 2000


@functools.lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def create_app(source: Source, *, where: str = "local", refresh_ms: int = REFRESH_MS) -> FastAPI:
    app = FastAPI(title="FT-Agent dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    def page(request: Request, name: str, **context: Any) -> HTMLResponse:
        fragment = request.query_params.get("fragment") == "1"
        return templates.TemplateResponse(
            request,
            name,
            {"fragment": fragment, "where": where, "refresh_ms": refresh_ms, **context},
            headers={"Cache-Control": "no-store"},
        )

    def record_of(namespace: str, name: str):
        record = source.campaign(namespace, name)
        if record is None:
            raise HTTPException(404, f"no campaign {namespace}/{name}")
        return record

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/static/plotly.min.js")
    def plotly_js() -> Response:
        return Response(
            _plotly_js(),
            media_type="application/javascript",
            headers={"Cache-Control": "max-age=86400"},
        )

    @app.get("/static/{name}.{ext}")
    def asset(name: str, ext: str) -> Response:
        path = HERE / "static" / f"{name}.{ext}"
        if ext not in ("js", "css") or not path.is_file():
            raise HTTPException(404)
        media = "application/javascript" if ext == "js" else "text/css"
        return Response(path.read_text(), media_type=media)

    @app.get("/", response_class=HTMLResponse)
    def campaigns(request: Request) -> HTMLResponse:
        rows = [campaign_row(r) for r in source.campaigns()]
        return page(request, "campaigns.html", rows=rows, grid=campaign_grid(rows))

    @app.get("/campaigns/{namespace}/{name}", response_class=HTMLResponse)
    def campaign(request: Request, namespace: str, name: str) -> HTMLResponse:
        return page(request, "campaign.html", v=campaign_view(record_of(namespace, name)))

    @app.get("/campaigns/{namespace}/{name}/iterations/{index}", response_class=HTMLResponse)
    def iteration(request: Request, namespace: str, name: str, index: int) -> HTMLResponse:
        view = iteration_view(record_of(namespace, name), index)
        if view is None:
            raise HTTPException(404, f"campaign {namespace}/{name} has no iteration {index}")
        return page(request, "iteration.html", v=view)

    @app.get("/api/campaigns")
    def api_campaigns() -> JSONResponse:
        return JSONResponse([campaign_row(r) for r in source.campaigns()])

    @app.get("/api/campaigns/{namespace}/{name}")
    def api_campaign(namespace: str, name: str) -> JSONResponse:
        return JSONResponse(campaign_view(record_of(namespace, name)))

    @app.get("/api/campaigns/{namespace}/{name}/iterations/{index}")
    def api_iteration(namespace: str, name: str, index: int) -> JSONResponse:
        view = iteration_view(record_of(namespace, name), index)
        if view is None:
            raise HTTPException(404)
        return JSONResponse(view)

    return app


__all__ = ["create_app"]
