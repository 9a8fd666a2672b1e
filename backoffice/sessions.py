"""Log in, log out, who is logged in: the web sessions (tokens and cookie: backoffice.auth)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from backoffice.access import Who
from backoffice.common import Deps, api_router
from backoffice.users import UserOut, get_user
from hotline.api_errors import ErrorBody


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    user: UserOut


def build_router(deps: Deps) -> APIRouter:
    router = api_router()
    auth, settings, clock = deps.auth, deps.settings.auth, deps.clock

    @router.post("/auth/login", response_model=TokenOut, tags=["auth"],
                 responses={401: {"model": ErrorBody},
                            429: {"model": ErrorBody, "description": "too many failed logins "
                                  "(5 per username, 20 per address in 5 minutes); see Retry-After"}},
                 summary="Log in (token + session cookie)")
    async def login(body: LoginIn, request: Request, response: Response) -> Any:
        client = request.client.host if request.client else None
        result = await auth.login(body.username, body.password, client)
        max_age = int((result.expires_at - clock()).total_seconds())
        response.set_cookie(settings.cookie_name, result.token, max_age=max_age,
                            httponly=True, samesite="strict", secure=settings.cookie_secure,
                            path="/")
        return TokenOut(access_token=result.token, expires_at=result.expires_at,
                        user=UserOut.model_validate(result.user))

    @router.post("/auth/logout", status_code=204, tags=["auth"], summary="End this session")
    async def logout(response: Response, who: Who) -> Response:
        await auth.logout(who)
        out = Response(status_code=204)
        out.delete_cookie(settings.cookie_name, path="/", httponly=True, samesite="strict")
        return out

    @router.get("/auth/me", response_model=UserOut, tags=["auth"], summary="Who is logged in")
    async def me(who: Who) -> Any:
        return UserOut.model_validate(await get_user(deps.sm, who.user_id))

    return router
