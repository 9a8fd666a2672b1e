"""Property-based fuzzing of the live OpenAPI (schemathesis): the real app under the real
uvicorn configuration (tests.support.live_http: temp SQLite, seeded users of each role),
every operation with valid and invalid data, called as each role and as nobody.

Properties: no answer is a 5xx; a caller whose role the access table
(`backoffice.access.ACCESS`) does not allow on a route gets 401 (nobody) or 403, whatever
its body (`backoffice.access.AccessFirst` checks before a body is read): never a 2xx, never
a 422. Bounded for `make test`: `EXAMPLES` cases per operation and mode.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from backoffice.access import ACCESS
from tests.support.live_http import LiveHttp, live_http
from tests.support.qa_env import PASSWORDS, ROLES

pytestmark = pytest.mark.component

EXAMPLES = 4
NOBODY = "nobody"
# The fuzzer's own logins come "through a proxy" from this address, so the failed logins it
# generates (which fill 127.0.0.1's limit) never lock the role sessions out.
OWN_ADDRESS = "192.0.2.10"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHttp]:
    with live_http(tmp_path_factory.mktemp("fuzz"), trusted_proxies=["127.0.0.1"]) as s:
        yield s


class Sessions:
    """A bearer header per role, renewed when the fuzzer ends that session (logout)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.headers: dict[str, dict[str, str]] = {NOBODY: {}}
        self.user_ids: set[int] = set()
        for role in ROLES:
            self.login(role)

    def login(self, role: str) -> None:
        r = requests.post(self.url + "/api/auth/login", timeout=30,
                          json={"username": role, "password": PASSWORDS[role]},
                          headers={"X-Forwarded-For": OWN_ADDRESS})
        assert r.status_code == 200, r.text
        self.headers[role] = {"Authorization": "Bearer " + r.json()["access_token"]}
        self.user_ids.add(r.json()["user"]["id"])


def _spares_the_sessions(method: str, path: str, case: Any, sessions: Sessions) -> bool:
    """Changes to the seeded users would change who the fuzzer's sessions are: not sent."""
    if (method, path) == ("PATCH", "/api/admin/users/{user_id}"):
        return (case.path_parameters or {}).get("user_id") not in sessions.user_ids
    return True


class Fuzz:
    """Calls each case as every caller and records what breaks the properties."""

    def __init__(self, server: LiveHttp) -> None:
        self.url = server.url
        self.sessions = Sessions(server.url)
        self.seen: Counter[tuple[str, int]] = Counter()
        self.problems: list[str] = []

    def check(self, case: Any, method: str, path: str, allowed: tuple[Any, ...]) -> None:
        for who in (NOBODY, *ROLES):
            permitted = not allowed or who in allowed
            if permitted and who != NOBODY and not _spares_the_sessions(method, path, case, self.sessions):
                continue
            response = case.call(base_url=self.url, headers=dict(self.sessions.headers[who]),
                                 timeout=30, allow_redirects=False)
            status = response.status_code
            self.seen[(who, status // 100)] += 1
            label = f"{method} {path} as {who}: {status}"
            if status >= 500:
                self.problems.append(f"{label} {response.text[:300]} <- {case.as_curl_command()}")
            elif not permitted:
                expected = {401} if who == NOBODY else {401, 403}
                if status not in expected:
                    self.problems.append(f"{label}, outside the role table <- {case.as_curl_command()}")
            if (method, path) == ("POST", "/api/auth/logout") and who != NOBODY and status == 204:
                self.sessions.login(who)


def test_live_openapi_no_5xx_and_the_role_table_holds(server: LiveHttp) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    fuzz = Fuzz(server)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 40  # every documented route
    bounded = settings(max_examples=EXAMPLES, deadline=None, database=None,
                       phases=[Phase.explicit, Phase.generate],
                       suppress_health_check=list(HealthCheck))
    for op in operations:
        method, path = op.method.upper(), op.path
        allowed = ACCESS[(method, path)]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            def one(case: Any, method: str = method, path: str = path,
                    allowed: tuple[Any, ...] = allowed) -> None:
                fuzz.check(case, method, path, allowed)

            try:
                bounded(given(case=op.as_strategy(generation_mode=mode))(_no_defaults(one)))()
            except Unsatisfiable:
                # no invalid request exists for an operation without parameters
                assert mode is GenerationMode.NEGATIVE and not op.path_parameters and not op.body
    assert not fuzz.problems, "\n".join(fuzz.problems[:20])
    # the run reached handlers, not only the access check
    seen = fuzz.seen
    assert seen[("admin", 2)] > 0 and seen[("qa", 2)] > 0 and seen[("operator", 2)] > 0, seen
    assert seen[(NOBODY, 4)] > 0, seen


def _no_defaults(f: Any) -> Any:
    """`f` with its bound defaults as a plain one-argument function (hypothesis's @given
    refuses functions with defaults)."""
    def case_only(case: Any) -> None:
        f(case)
    return case_only
