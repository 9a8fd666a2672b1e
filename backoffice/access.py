"""Who may call which route: one table for every route of the app, one mechanism applying it.

`ACCESS` maps each route of the app, (method, path template), to the roles allowed; `PUBLIC`
routes need no login. `hotline.app.http.create_app` makes `check_access` an app-level
dependency, so it runs before every route's handler (and before the handler's own
dependencies), looks up the route the request matched and authenticates the user when the
route is not public. Then `AccessPolicy.verify` compares the app's routes with the table: a
route missing from the table, a table entry without a route, or a non-public route that
cannot carry the dependency (FastAPI's own documentation routes can only be public) stops the
app from being built. A route added after that is refused at request time (403
`no_access_rule`): closed, not open.

`AccessFirst` (an ASGI middleware the app installs) applies the same policy before the
request's body is read, so nobody unauthenticated or forbidden gets a body parsed.

Handlers that need the user take `who: Who` (the principal `check_access` found; FastAPI
runs the dependency once per request).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match

from backoffice.auth import Authenticator, Principal
from backoffice.models import Role
from hotline.api_errors import ApiError

A, Q, OP, TL = Role.ADMIN, Role.QA, Role.OPERATOR, Role.TEAM_LEAD
ANY = (A, Q, TL, OP)
PUBLIC: tuple[Role, ...] = ()  # no login

# (method, path) -> roles allowed, for every route of the app (`create_app` refuses to build
# an app whose routes differ from it; the role-matrix test tries each one with every role).
ACCESS: dict[tuple[str, str], tuple[Role, ...]] = {
    # the service
    ("GET", "/health"): PUBLIC,  # liveness: no personal data
    ("GET", "/"): PUBLIC,  # redirect to the web page
    # Prometheus scraping: no login, but only from service.metrics_allow (loopback by default;
    # hotline.app.metrics_http refuses other addresses); docs/decisions/0005
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/api/operators"): ANY,
    # FastAPI's API documentation (Starlette routes: public is all they can be)
    **{(m, p): PUBLIC for p in ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")
       for m in ("GET", "HEAD")},
    # the web page (static files; its data comes from the API)
    ("GET", "/qa"): PUBLIC,
    ("GET", "/qa/"): PUBLIC,
    ("GET", "/qa/static/{name}"): PUBLIC,
    # dialplan versions (ivr)
    ("GET", "/api/dialplans/versions"): (A,),
    ("GET", "/api/dialplans/versions/{id_}"): (A,),
    ("GET", "/api/dialplans/active"): (A,),
    ("POST", "/api/dialplans/validate"): (A,),
    ("POST", "/api/dialplans/upload"): (A,),
    ("POST", "/api/dialplans/activate/{id_}"): (A,),
    ("POST", "/api/dialplans/rollback"): (A,),
    ("GET", "/api/dialplans/diff"): (A,),
    # calls in progress and a call's context, as routing sees them
    ("GET", "/api/routing/calls/active"): (A, Q),
    ("GET", "/api/routing/calls/{call_id}/context"): (A, Q),
    # the back office
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/logout"): ANY,
    ("GET", "/api/auth/me"): ANY,
    ("GET", "/api/calls"): (Q, OP),  # operators: their own calls only
    ("GET", "/api/calls/{call_id}"): (Q, OP),
    ("GET", "/api/recordings/{recording_id}/audio"): (Q,),
    ("HEAD", "/api/recordings/{recording_id}/audio"): (Q,),
    ("GET", "/api/reviews"): (Q,),
    ("PATCH", "/api/reviews/{call_id}"): (Q,),
    ("GET", "/api/stats"): (Q,),
    ("GET", "/api/wallboard"): (Q, A, TL),
    ("GET", "/api/wallboard/queue"): (Q, A, TL),
    ("GET", "/api/wallboard/abandoned"): (Q, A, TL),
    # callbacks (docs/decisions/0008): the list, and click-to-call from the wallboard's
    # abandoned calls and failed callbacks: a team lead's own phone rings first (their user
    # is linked to their operator row); QA and admin may name the operator whose phone rings
    ("GET", "/api/callbacks"): (Q, A, TL),
    ("POST", "/api/callbacks/click-to-call"): (Q, A, TL),
    ("GET", "/api/me/screenpop"): (OP, TL),  # team leads take calls too (overflow, managers)
    ("GET", "/api/admin/teams"): (A,),
    ("POST", "/api/admin/teams"): (A,),
    ("PATCH", "/api/admin/teams/{team_id}"): (A,),
    ("DELETE", "/api/admin/teams/{team_id}"): (A,),
    ("GET", "/api/admin/operators"): (A,),
    ("POST", "/api/admin/operators"): (A,),
    ("PATCH", "/api/admin/operators/{operator_id}"): (A,),
    ("DELETE", "/api/admin/operators/{operator_id}"): (A,),
    ("PUT", "/api/admin/operators/{operator_id}/backups"): (A,),
    ("GET", "/api/admin/callers"): (A,),
    ("POST", "/api/admin/callers"): (A,),
    ("PATCH", "/api/admin/callers/{caller_id}"): (A,),
    ("DELETE", "/api/admin/callers/{caller_id}"): (A,),
    ("GET", "/api/admin/users"): (A,),
    ("POST", "/api/admin/users"): (A,),
    ("PATCH", "/api/admin/users/{user_id}"): (A,),
}

RouteKey = tuple[str, str]


class AccessTableError(RuntimeError):
    """The app's routes and the access table disagree (raised while the app is built)."""


def walk_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, into included routers (FastAPI versions that keep them nested)."""
    for r in routes:
        nested = getattr(r, "original_router", None)
        if nested is not None:
            yield from walk_routes(nested.routes)
        else:
            yield r


def route_keys(routes: Iterable[BaseRoute]) -> dict[RouteKey, BaseRoute]:
    """(method, path) of every route, as `check_access` sees them at request time.

    Routers carry their full paths (`APIRouter(prefix=...)`) and are included without a
    prefix, so a route's own `path` is the URL template."""
    out: dict[RouteKey, BaseRoute] = {}
    for r in walk_routes(routes):
        methods, path = getattr(r, "methods", None), getattr(r, "path", None)
        if not methods or path is None:
            raise AccessTableError(f"{r!r}: only routes with methods and a path are supported")
        for m in methods:
            if out.get((m, path), r) is not r:
                raise AccessTableError(f"two routes for {m} {path}")
            out[(m, path)] = r
    return out


@dataclass(frozen=True)
class AccessPolicy:
    table: Mapping[RouteKey, tuple[Role, ...]]
    authenticator: Authenticator

    def verify(self, routes: Iterable[BaseRoute]) -> None:
        """Refuse an app whose routes are not exactly the table's."""
        keys = route_keys(routes)
        missing = sorted(set(keys) - set(self.table))
        stale = sorted(set(self.table) - set(keys))
        closed_static = sorted(k for k, r in keys.items()
                               if not isinstance(r, APIRoute) and self.table.get(k, PUBLIC))
        problems = [f"{what}: {', '.join(f'{m} {p}' for m, p in ks)}" for what, ks in (
            ("routes missing from the access table", missing),
            ("access table entries without a route", stale),
            ("routes that cannot check roles (not FastAPI routes) but are not public", closed_static),
        ) if ks]
        if problems:
            raise AccessTableError("; ".join(problems))

    async def check(self, request: Request) -> Principal | None:
        """The principal allowed to call the matched route (None: a public route)."""
        path = getattr(request.scope.get("route"), "path", None)
        checked = request.scope.get(_CHECKED)
        if checked is not None and checked[:2] == (request.method, path):
            return checked[2]  # `AccessFirst` did it, before the body was read
        return await self.check_route(request.method, path, request)

    async def check_route(self, method: str, path: str | None, request: Request) -> Principal | None:
        roles = self.table.get((method, path)) if path is not None else None
        if roles is None:
            raise ApiError(403, "no_access_rule", "this route is not in the access table",
                           {"method": method, "path": path})
        if not roles:
            return None
        principal = await self.authenticator.authenticate(request)
        if principal.role not in roles:
            raise ApiError(403, "forbidden", f"role {principal.role} may not do this",
                           {"role": principal.role, "allowed": sorted(roles)})
        return principal


_CHECKED = "hotline.access"  # scope key: (method, route path, principal) found by AccessFirst


class AccessFirst:
    """ASGI middleware: the access check before anything reads the request's body.

    FastAPI reads and parses a route's body before its dependencies run, so without this a
    caller nobody authenticated could make the app parse a body (and learn from a 422 that
    it was malformed). This matches the route as the router will, applies the app's
    `AccessPolicy` from the headers alone and answers 401/403 at once; the route's
    `check_access` dependency then reuses the result. Paths no route matches in full go on
    to the router (404, 405)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        fastapi_app = scope.get("app")
        policy = getattr(getattr(fastapi_app, "state", None), "access", None)
        if scope["type"] == "http" and isinstance(policy, AccessPolicy):
            route = next((r for r in walk_routes(fastapi_app.router.routes)  # type: ignore[union-attr]
                          if r.matches(scope)[0] is Match.FULL), None)
            path = getattr(route, "path", None)
            if path is not None:
                try:
                    principal = await policy.check_route(scope["method"], path, Request(scope))
                except ApiError as exc:
                    await exc.response()(scope, receive, send)
                    return
                scope[_CHECKED] = (scope["method"], path, principal)
        await self.app(scope, receive, send)


def install_access(app: Any, policy: AccessPolicy) -> None:
    """Give `app` its policy (the app was created with `dependencies=[Depends(check_access)]`)."""
    app.state.access = policy


async def check_access(request: Request) -> Principal | None:
    """The app-level dependency: apply the app's `AccessPolicy` to the matched route."""
    policy = getattr(request.app.state, "access", None)
    if not isinstance(policy, AccessPolicy):
        raise ApiError(403, "no_access_rule", "this app has no access table")
    return await policy.check(request)


async def signed_in(principal: Annotated[Principal | None, Depends(check_access)]) -> Principal:
    """The logged-in user of a non-public route (the same `check_access` run, cached)."""
    if principal is None:  # a public route asking who is logged in: nobody is
        raise ApiError(401, "not_authenticated", "log in first",
                       headers={"WWW-Authenticate": "Bearer"})
    return principal


Who = Annotated[Principal, Depends(signed_in)]
