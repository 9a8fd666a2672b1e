"""A real Asterisk 22 for the end-to-end tests, on ports of its own (not `make run`'s).

The service's database is SQLite; a module that runs on PostgreSQL too says so with
`pytestmark = pytest.mark.parametrize("db_backend", DB_KINDS, indirect=True, scope="module")`:
its `e2e_settings` then point the service at a demo database of its own on the session's
PostgreSQL (same Asterisk, same directory, same FastAGI key)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from hotline.app.bootstrap import prepare_database
from hotline.app.service import Service, agi_secret
from hotline.app.settings import DatabaseSettings, Settings
from hotline.pbx.asterisk import AsteriskInstance, provision_root
from hotline.pbx.settings import AsteriskSettings, ServiceSettings
from tests.support.databases import DbBackend
from tests.support.slots import e2e_slot

# Each e2e run (and each xdist worker) gets a "slot" with its own Asterisk instance and
# ports, so several runs (and `make run` on the standard ports) never collide.
SLOT = e2e_slot()
BASE = 15000 + SLOT * 1000
SIP_PORT = BASE
CALLERS_PORT = BASE + 50  # callbacks dial callers here (asterisk.callback_contact): a sipp UAS


def make_settings(var: Path, **asterisk: object) -> Settings:
    return Settings(
        mode="demo",
        var_dir=var,
        service=ServiceSettings(agi_port=BASE + 2, audiosocket_port=BASE + 3, http_port=BASE + 4),
        asterisk=AsteriskSettings(
            instance=f"test{SLOT}", sip_port=SIP_PORT, ami_port=BASE + 1, rtp_start=BASE + 100,
            rtp_end=BASE + 999, ami_secret=SecretStr("test-" + secrets.token_hex(12)),
            callback_contact=f"sip:127.0.0.1:{CALLERS_PORT}", **asterisk,
        ),
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{var}/hotline.db.base"),
    )


@pytest.fixture(scope="session")
def e2e_sqlite_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The session's settings: Asterisk is configured from them (and the SQLite database)."""
    return make_settings(tmp_path_factory.mktemp("var"))


@pytest.fixture(scope="module")
def e2e_settings(e2e_sqlite_settings: Settings, db_backend: DbBackend,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The settings a module's service runs with: the session's, or on PostgreSQL the same
    but for the database (demo data loaded into a database of its own) and the var/ folder
    (its demo QA users' passwords must not replace the SQLite ones), with the FastAGI key
    Asterisk was given."""
    base = e2e_sqlite_settings
    if not db_backend.is_postgres:
        yield base
        return
    var = tmp_path_factory.mktemp("var-pg")
    with db_backend.empty_sync(var, "e2e") as url:
        service = base.service.model_copy(update={"agi_secret": SecretStr(agi_secret(base))})
        s = base.model_copy(update={"var_dir": var, "service": service,
                                    "database": DatabaseSettings(url=url)})
        asyncio.run(prepare_database(s))
        yield s


@pytest.fixture(scope="session")
def asterisk(e2e_sqlite_settings: Settings) -> Iterator[AsteriskInstance]:
    s = e2e_sqlite_settings
    provision_root(s.asterisk.root, s.asterisk.cache)
    asyncio.run(prepare_database(s))
    assert s.asterisk.ami_secret is not None
    secret = s.asterisk.ami_secret.get_secret_value()

    async def operators():  # type: ignore[no-untyped-def]
        svc = Service(s, secret=secret)
        try:
            return await svc.operators(), svc.agi_secret
        finally:
            await svc.engine.dispose()

    inst = AsteriskInstance(s)
    ops, key = asyncio.run(operators())
    inst.write_config(ops, secret, key)  # every Service on these settings has this key
    if inst.running():  # left by an earlier run: start afresh on this configuration
        inst.stop()
    inst.cdr_file.unlink(missing_ok=True)  # Asterisk's records of earlier runs: not this database's calls
    inst.start()
    yield inst
    inst.stop()


@pytest.fixture
async def service(asterisk: AsteriskInstance, e2e_settings: Settings) -> AsyncIterator[Service]:
    svc = Service(e2e_settings, with_bot=False)  # the bot's own tests start it
    await svc.start()
    try:
        async with asyncio.timeout(10):
            while not svc.ami.connected:
                await asyncio.sleep(0.05)
        yield svc
    finally:
        await svc.stop()


@pytest.fixture
def sip_target() -> str:
    return f"127.0.0.1:{SIP_PORT}"


@contextlib.asynccontextmanager
async def api_client(service: Service, username: str = "qa") -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client logged in as one of the demo users (passwords in var/qa-users.txt)."""
    users = dict(
        line.split(" ", 1)
        for line in (service.settings.resolve(service.settings.var_dir) / "qa-users.txt")
        .read_text().splitlines() if line.strip()
    )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.settings.service.http_port}") as client:
        r = await client.post("/api/auth/login", json={"username": username, "password": users[username]})
        r.raise_for_status()
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        yield client
