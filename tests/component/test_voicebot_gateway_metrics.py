"""The bot's metrics (`hotline_bot_turn_seconds`, `hotline_bot_sessions_total`) after a bot
call through `BotGateway.run`: the AGI channel's `EXEC AudioSocket` is played by the loopback
fake Asterisk of test_voicebot_server, whose caller asks one question and hangs up."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hotline.app.settings import Settings
from hotline.metrics import Metrics
from hotline.pbx.settings import ServiceSettings
from tests.component.test_voicebot_server import FakeAsterisk
from tests.e2e.peers import free_tcp_port
from tests.support.bot_fakes import NOW, EnergyClassifier, NoFacts, ScriptedAsr, ToneTts, tone
from voicebot.dialog import DialogSettings
from voicebot.gateway import BotGateway
from voicebot.session import SessionSettings

pytestmark = pytest.mark.component


@pytest.fixture
async def gateway() -> AsyncIterator[BotGateway]:
    settings = Settings(service=ServiceSettings(audiosocket_port=free_tcp_port()))
    asr = ScriptedAsr(*["when is the next draw"] * 10)
    gw = BotGateway(settings, NoFacts(), lambda: asr, ToneTts(), lambda: NOW,
                    session_settings=SessionSettings(dialog=DialogSettings()),
                    classifier_factory=EnergyClassifier, metrics=Metrics())
    await gw.start()
    try:
        yield gw
    finally:
        await gw.stop()


class AudioSocketChannel:
    """The caller's AGI channel: `EXEC AudioSocket` connects Asterisk's side, which speaks."""

    def __init__(self, port: int) -> None:
        self.port, self.env, self.uniqueid, self.hung_up = port, {}, "u-bot", False

    async def exec(self, app: str, args: str = "", timeout: float | None = None) -> None:
        assert app == "AudioSocket"
        ast = await FakeAsterisk.connect(self.port, uuid.UUID(args.split(",")[0]))
        await asyncio.sleep(0.3)
        ast.speech = tone(800)  # barges into the greeting, then asks
        await asyncio.sleep(3.0)
        await ast.close()  # the caller hangs up

    async def set_variable(self, name: str, value: str) -> None:
        pass


def samples(m: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for f in text_string_to_metric_families(m.render().decode()) for s in f.samples}


async def test_a_bot_call_counts_its_turns_and_its_outcome(gateway: BotGateway) -> None:
    before = samples(gateway.metrics)
    assert before[("hotline_bot_turn_seconds_count", frozenset())] == 0
    result = await gateway.run(AudioSocketChannel(gateway.port))  # type: ignore[arg-type]
    after = samples(gateway.metrics)
    assert result.outcome == "hangup" and result.intent == "next_draw" and result.turn_latencies
    assert after[("hotline_bot_turn_seconds_count", frozenset())] == len(result.turn_latencies)
    assert after[("hotline_bot_turn_seconds_sum", frozenset())] == pytest.approx(
        sum(result.turn_latencies))
    sessions = {dict(k[1])["outcome"]: val for k, val in after.items()
                if k[0] == "hotline_bot_sessions_total"}
    assert sessions == {"done": 0, "operator": 0, "hangup": 1, "failed": 0}
