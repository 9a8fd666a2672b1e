"""The listener side of the callback offer, without Asterisk: the cap on listeners, the spy
started for the caller's channel, words from final transcripts, and the session ended (so
the gateway's server hangs the spy up) when the offer stops listening."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from voicebot.frames import Transcript
from voicebot.queue_listen import ListenSession, QueueListening


class Asr:
    name = "fake"


def listening(spy_ok: bool = True, max_listeners: int = 2):  # type: ignore[no-untyped-def]
    registered: dict[uuid.UUID, ListenSession] = {}
    spied: list[tuple[str, str]] = []

    def register(call: uuid.UUID, session: ListenSession | None) -> None:
        if session is None:
            registered.pop(call, None)
        else:
            registered[call] = session

    async def spy(channel: str, listener: str) -> bool:
        spied.append((channel, listener))
        return spy_ok

    ql = QueueListening(register, lambda: Asr(), spy, max_listeners=max_listeners)  # type: ignore[arg-type,return-value]
    return ql, registered, spied


async def _next(gen: Any) -> str:
    return await asyncio.wait_for(gen.__anext__(), 2)


async def test_words_come_from_final_transcripts_and_closing_ends_the_session() -> None:
    ql, registered, spied = listening()
    gen = ql.listen("PJSIP/caller-00000001")
    first = asyncio.ensure_future(_next(gen))
    while not spied:
        await asyncio.sleep(0.01)
    [(channel, listener)] = spied
    assert channel == "PJSIP/caller-00000001"
    session = registered[uuid.UUID(listener)]
    words = session.pipeline.processors[-1]  # the transcript end of the listener's pipeline
    await words.process(Transcript("the music is nice", True, 0.0), None)  # type: ignore[arg-type]
    await words.process(Transcript("call me back", True, 0.0), None)  # type: ignore[arg-type]
    assert await first == "callback"
    await words.process(Transcript("yes", True, 0.0), None)  # type: ignore[arg-type]
    assert await _next(gen) == "yes"
    await gen.aclose()
    assert registered == {} and session.finished.is_set() and ql.active == {}


async def test_beyond_the_cap_a_caller_is_not_heard() -> None:
    ql, _registered, spied = listening(max_listeners=1)
    gen1 = ql.listen("PJSIP/a-1")
    t1 = asyncio.ensure_future(_next(gen1))
    while not spied:
        await asyncio.sleep(0.01)
    words = [w async for w in ql.listen("PJSIP/b-2")]  # ends at once: keys only
    assert words == [] and ql.refused == 1 and len(spied) == 1
    t1.cancel()
    await asyncio.gather(t1, return_exceptions=True)
    await gen1.aclose()
    assert ql.active == {}


async def test_a_spy_that_did_not_start_gives_no_words() -> None:
    ql, registered, _spied = listening(spy_ok=False)
    assert [w async for w in ql.listen("PJSIP/a-1")] == [] and registered == {}
