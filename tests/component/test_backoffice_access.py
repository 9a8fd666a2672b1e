"""backoffice/access.py: every route of the service's app (`create_app`) tried with each role
and with no credentials against the one access table; how the table is enforced; the API
documentation of each route's errors."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from backoffice.access import ACCESS, AccessPolicy, AccessTableError, route_keys
from hotline.paths import PROJECT_ROOT
from tests.support.qa_env import PASSWORDS, ROLES, QaTestEnv, tokens


@pytest.fixture
async def env(clocked_env: QaTestEnv) -> QaTestEnv:
    """The app on the fake clock (conftest's `clock`)."""
    return clocked_env


DIALPLAN = (PROJECT_ROOT / "dialplan" / "hotline.yaml").read_text()


def request_for(env: QaTestEnv, method: str, path: str, n: int) -> tuple[str, dict[str, Any] | None]:
    """A concrete, valid request for each endpoint (n makes created names unique)."""
    sd = env.seeded
    ids = {"call_id": sd.calls[4] if "reviews" in path else sd.calls[1],
           "recording_id": sd.recordings["call1"], "team_id": sd.teams["scratch"],
           "operator_id": sd.operators["scratch"], "caller_id": sd.callers["scratch"],
           "user_id": sd.users["operator"], "id_": env.dialplan_version, "name": "app.js"}
    url = re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)
    if path == "/api/dialplans/diff":
        url += f"?a={env.dialplan_version}&b={env.dialplan_version}"
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/api/auth/login"): {"username": "qa", "password": PASSWORDS["qa"]},
        ("PATCH", "/api/reviews/{call_id}"): {"notes": f"note {n}"},
        ("POST", "/api/admin/teams"): {"name": f"Team {n}"},
        ("PATCH", "/api/admin/teams/{team_id}"): {"name": f"Scratch {n}"},
        ("POST", "/api/admin/operators"): {"name": f"Op {n}", "extension": f"30{n:02d}", "sip_password": "s3cret-passw0rd"},
        ("PATCH", "/api/admin/operators/{operator_id}"): {"name": f"Scratch {n}"},
        ("PUT", "/api/admin/operators/{operator_id}/backups"): {"backup_ids": [sd.operators["anna"]]},
        ("POST", "/api/admin/callers"): {"number": f"+7900100{n:04d}", "name": f"Caller {n}"},
        ("PATCH", "/api/admin/callers/{caller_id}"): {"name": f"Scratch {n}"},
        ("POST", "/api/admin/users"): {"username": f"user{n}", "password": "a-long-password-1", "role": "qa"},
        ("PATCH", "/api/admin/users/{user_id}"): {"operator_id": sd.operators["anna"]},
        ("POST", "/api/dialplans/validate"): {"content": DIALPLAN},
        ("POST", "/api/dialplans/upload"): {"content": DIALPLAN.replace("version: 1\n", f"version: {n + 2}\n"),
                                            "by": "admin"},
        ("POST", "/api/dialplans/rollback"): {"id": env.dialplan_version},
        ("POST", "/api/callbacks/click-to-call"): {"call_id": sd.calls[1]},
    }
    return url, bodies.get((method, path))


async def test_access_table_covers_every_route(env: QaTestEnv) -> None:
    routes = set(route_keys(env.app.routes))  # what the access check looks up, per request
    assert routes == set(ACCESS)
    assert len(routes) == 57  # with the queue wallboard (2) and the callbacks list and click-to-call (2)
    assert sum(p.startswith("/api/dialplans/") for _, p in routes) == 8
    assert sum(p.startswith("/api/routing/") for _, p in routes) == 2
    assert {("GET", "/health"), ("GET", "/api/operators"), ("GET", "/qa/static/{name}"),
            ("GET", "/openapi.json")} <= routes


async def test_role_matrix(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    tok = await tokens(client)
    routes = route_keys(env.app.routes)  # every route of the real app, by (method, path)
    missing = sorted(set(routes) - set(ACCESS))
    assert not missing, f"routes missing from the access table: {missing}"
    # destructive endpoints last, so the others still find their objects
    order = sorted(routes, key=lambda k: (k[1] == "/api/auth/logout", k[0] == "DELETE", k[1], k[0]))
    seen = []
    for n, (method, path) in enumerate(order):
        allowed = {r.value for r in ACCESS[(method, path)]}
        for who in (*ROLES, None):
            url, body = request_for(env, method, path, n * 10 + len(seen) % 10)
            headers = tok[who] if who else {}
            r = await client.request(method, url, json=body, headers=headers)
            seen.append((method, path, who, r.status_code))
            if not allowed:  # public: login, health, the web page, the API documentation
                redirect = path in ("/", "/qa")  # to the web page
                assert r.status_code == (307 if redirect else 200), (method, path, who, r.text)
            elif who is None:
                assert r.status_code == 401, (method, path, who, r.text)
                assert method == "HEAD" or r.json()["error_id"] == "not_authenticated"
            elif who in allowed:
                assert r.status_code in (200, 201, 204, 206), (method, path, who, r.status_code, r.text)
            else:
                assert r.status_code == 403, (method, path, who, r.status_code, r.text)
                assert method == "HEAD" or r.json()["error_id"] == "forbidden"
            client.cookies.clear()
    assert len(seen) == 5 * len(routes) == 5 * len(ACCESS) == 5 * 57  # 4 roles and nobody
    assert {p for _, p, _, _ in seen} >= {"/api/dialplans/upload", "/api/routing/calls/active"}


async def test_a_route_missing_from_the_table_is_refused(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    tok = await tokens(client)

    @env.app.get("/api/added-later")
    async def added_later() -> dict[str, str]:
        return {"secret": "data"}

    for headers in (tok["admin"], tok["qa"], {}):
        r = await client.get("/api/added-later", headers=headers)
        assert r.status_code == 403 and r.json()["error_id"] == "no_access_rule"
        assert r.json()["details"] == {"method": "GET", "path": "/api/added-later"}
    policy = env.app.state.access
    with pytest.raises(AccessTableError, match="missing from the access table: GET /api/added-later"):
        policy.verify(env.app.routes)  # what create_app does before it returns the app


def test_the_table_must_name_only_real_routes_and_static_routes_only_as_public(env: QaTestEnv) -> None:
    policy = env.app.state.access
    policy.verify(env.app.routes)  # the app as built
    stale = AccessPolicy({**ACCESS, ("GET", "/api/gone"): ()}, policy.authenticator)
    with pytest.raises(AccessTableError, match="entries without a route: GET /api/gone"):
        stale.verify(env.app.routes)
    closed_docs = AccessPolicy({**ACCESS, ("GET", "/openapi.json"): ACCESS[("GET", "/api/stats")]},
                               policy.authenticator)
    with pytest.raises(AccessTableError, match="not public: GET /openapi.json"):
        closed_docs.verify(env.app.routes)


async def test_one_authentication_per_request(env: QaTestEnv, client: httpx.AsyncClient,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    tok = await tokens(client)
    auth = env.services.auth
    real = auth.authenticate
    count = 0

    async def counting(request: Any) -> Any:
        nonlocal count
        count += 1
        return await real(request)

    monkeypatch.setattr(auth, "authenticate", counting)
    r = await client.get("/api/auth/me", headers=tok["qa"])  # the app's check and the handler's user
    assert r.status_code == 200 and r.json()["username"] == "qa" and count == 1
    r = await client.get("/api/dialplans/versions", headers=tok["admin"])
    assert r.status_code == 200 and count == 2
    assert (await client.get("/health")).status_code == 200 and count == 2  # public: no login


async def test_recording_never_served_without_role(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    tok = await tokens(client)
    url = f"/api/recordings/{env.seeded.recordings['call1']}/audio"
    for headers in ({}, tok["admin"], tok["operator"], {"Authorization": "Bearer nonsense"},
                    {"Authorization": "Bearer " + tok["qa"]["Authorization"][7:-2] + "xx"}):
        for rng in (None, "bytes=0-10"):
            h = dict(headers)
            if rng:
                h["Range"] = rng
            r = await client.get(url, headers=h)
            assert r.status_code in (401, 403)
            assert b"RIFF" not in r.content
            assert set(r.json()) == {"error_id", "message", "details"}


async def test_openapi_documents_every_endpoint(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    from backoffice.access import ACCESS
    documented = [(m, p) for m, p in ACCESS if p.startswith("/api/") or p == "/health"]
    assert len(documented) == 44  # the web page and FastAPI's documentation are not in it
    for method, path in documented:
        op = spec["paths"][path][method.lower()]
        assert op.get("summary") or op.get("operationId")
        if ACCESS[(method, path)]:
            assert "401" in op["responses"] and "403" in op["responses"], (method, path)
    assert "ErrorBody" in spec["components"]["schemas"]
