"""A real Asterisk 22 for the end-to-end tests, on ports of its own (not `make run`'s)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from hotline.asterisk import AsteriskInstance, provision_root
from hotline.cli import prepare_database
from hotline.service import Service
from hotline.settings import AsteriskSettings, DatabaseSettings, ServiceSettings, Settings

SIP_PORT = 5160


def make_settings(var: Path, **asterisk: object) -> Settings:
    return Settings(
        mode="demo",
        var_dir=var,
        service=ServiceSettings(agi_port=4673, audiosocket_port=9192, http_port=8180),
        asterisk=AsteriskSettings(
            instance="test", sip_port=SIP_PORT, ami_port=5138, rtp_start=12000, rtp_end=12999,
            ami_secret=SecretStr("test-" + secrets.token_hex(12)), **asterisk,
        ),
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{var}/hotline.db"),
    )


@pytest.fixture(scope="session")
def e2e_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("var"))


@pytest.fixture(scope="session")
def asterisk(e2e_settings: Settings) -> Iterator[AsteriskInstance]:
    s = e2e_settings
    provision_root(s.asterisk.root, s.asterisk.cache)
    asyncio.run(prepare_database(s))
    assert s.asterisk.ami_secret is not None
    secret = s.asterisk.ami_secret.get_secret_value()

    async def operators():  # type: ignore[no-untyped-def]
        svc = Service(s, secret=secret)
        try:
            return await svc.operators()
        finally:
            await svc.engine.dispose()

    inst = AsteriskInstance(s)
    inst.write_config(asyncio.run(operators()), secret)
    inst.start()
    yield inst
    inst.stop()


@pytest.fixture
async def service(asterisk: AsteriskInstance, e2e_settings: Settings) -> AsyncIterator[Service]:
    svc = Service(e2e_settings)
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
