"""Task success through the real Asterisk: scripted multi-turn calls (tests/e2e/bot_scripts.py)
from a sipp caller whose speech (the Piper joe voice, or espeak-ng when Piper is missing) and
keys are one RTP stream; each stored call is judged by `voicebot.task_success`: the right answer
reached, or the operator when asked, within four caller turns. Among them: a first question the
bot is unsure about, resolved by its clarifying question answered by voice or by key, a first
question it does not understand and the caller's rephrasing, and operator requests (spoken,
key 0, in answer to the clarifying question, after a miss).

The whole scripted set, with its success rate, is in the bench (tests/bench/bench_bot.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hotline.app.service import Service
from hotline.pbx.sipp import sipp_available
from tests.e2e.bot_scripts import by_name, caller_voice, place_scripted
from tests.e2e.bot_support import BotCalls, make_bot_service
from voicebot.gateway import BotGateway
from voicebot.task_success import task_success

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed")]

# one of each kind, and the operator reached in four ways
CASES = ["clarify_says_draw_time", "clarify_key_1", "misheard_then_rephrased", "ticket_keyed",
         "numbers_which_game", "operator_spoken", "operator_key_0", "operator_after_clarify"]


@pytest.fixture
async def bot(asterisk, e2e_settings) -> AsyncIterator[tuple[Service, BotGateway, BotCalls]]:  # type: ignore[no-untyped-def]
    calls = BotCalls()
    svc, gw = make_bot_service(e2e_settings, calls)
    await gw.start()
    await svc.start()
    try:
        yield svc, gw, calls
    finally:
        await svc.stop()
        await gw.stop()


@pytest.mark.parametrize("name", CASES)
async def test_scripted_call_reaches_its_goal(bot, name: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    svc, gw, calls = bot
    script = by_name(name)
    row = await place_scripted(svc, script, caller_voice(), tmp_path)
    said = [(e["speaker"], e["text"], e.get("intent")) for e in row.bot_transcript]
    got = task_success(script.goal, row.bot_transcript, row.context.get("bot"))
    print(f"{name}: {got}")
    assert got.success, (got, said)
    if script.kind.startswith("clarify"):  # resolved by the clarifying question, not around it
        assert any(t.startswith("Do you want") for s, t, _ in said if s == "bot"), said
        picked = [i for s, t, i in said if s == "caller"][1]
        assert picked == script.goal.intent, said
    if script.kind == "clarify_key":
        assert ("caller", "[key 1]", script.goal.intent) in said, said
    if script.goal.intent == "operator":
        assert row.outcome == "bot_operator" and calls.routed, row.context
    # the call ended by the bot (goodbye after "no thank you", or routing), never a failure;
    # how the closing "no thank you" was heard is not part of the goal
    assert row.context["bot"]["outcome"] in ("done", "operator"), row.context
