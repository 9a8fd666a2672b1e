"""The QA web page: static HTML/JS/CSS under /qa (no build step, no CDN).

The page holds no data itself; everything comes from /api with the HttpOnly session cookie.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response

WEB_DIR = Path(__file__).resolve().parent / "web_static"

ASSETS = {
    "app.js": "text/javascript",
    "plot.js": "text/javascript",
    "app.css": "text/css",
}

_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def build_web_router(prefix: str = "/qa") -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get(prefix)
    async def root() -> RedirectResponse:
        return RedirectResponse(prefix + "/", status_code=307)

    @router.get(prefix + "/")
    async def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html", headers=_HEADERS)

    @router.get(prefix + "/static/{name}")
    async def static(name: str) -> Response:
        # A fixed list of files: nothing from the request reaches the file system.
        media = ASSETS.get(name)
        if media is None:
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(WEB_DIR / "static" / name, media_type=media, headers=_HEADERS)

    return router
