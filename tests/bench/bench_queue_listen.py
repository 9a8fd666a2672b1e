"""What one "call me back" listener costs the service in CPU (docs/decisions/0008, addendum).

    python -m tests.bench.bench_queue_listen [listeners]      (on its own; not in `make bench`)

The service's side only: the AudioSocket server and a listener session (webrtc VAD and
pocketsphinx with the offer's grammar, in this process) fed 8 kHz audio in 20 ms frames at real
time over loopback TCP, as Asterisk's AudioSocket sends it: 60 s per listener, two phrases
("call me back please", "yes") in the project's TTS voice, the rest silence (a caller waiting
quietly).  Asterisk's spy and Local channels are not counted.  Prints this process's CPU
seconds (user + system) over the wall time, per listener.
"""

from __future__ import annotations

import asyncio
import resource
import struct
import sys
import time
import uuid

from tests.e2e.bot_scripts import caller_voice
from voicebot.gateway import choose_asr
from voicebot.queue_listen import ListenSession
from voicebot.queue_words import vocabulary
from voicebot.server import AudioSocketServer

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1
SECONDS = 60

def cpu() -> float:
    r, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime

async def main() -> None:
    asr = choose_asr("en", processes=False, second_pass=False, vocabulary=vocabulary())
    speak = caller_voice()
    pcm = bytes(16000 * 10) + speak("call me back please") + bytes(16000 * 20) + speak("yes")
    pcm += bytes(16000 * SECONDS - len(pcm))
    words: list[str] = []
    sessions: dict[uuid.UUID, ListenSession] = {}
    def factory(call: uuid.UUID) -> ListenSession:
        s = ListenSession(asr, words.append)
        sessions[call] = s
        return s
    server = AudioSocketServer("127.0.0.1", 0, factory)
    await server.start()
    port = server.port
    async def client() -> None:
        call = uuid.uuid4()
        _r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(struct.pack(">BH", 1, 16) + call.bytes)
        t0 = time.monotonic()
        for i in range(0, len(pcm), 320):
            w.write(struct.pack(">BH", 0x10, 320) + pcm[i:i + 320])
            await w.drain()
            due = t0 + (i // 320 + 1) * 0.02
            await asyncio.sleep(max(0, due - time.monotonic()))
        w.write(struct.pack(">BH", 0, 0))
        await w.drain()
        w.close()
    c0, t0 = cpu(), time.monotonic()
    await asyncio.gather(*(client() for _ in range(N)))
    await asyncio.sleep(1)
    c1, t1 = cpu(), time.monotonic()
    await server.stop()
    share = 100 * (c1 - c0) / (t1 - t0) / N
    print(f"listeners={N} wall={t1 - t0:.1f}s cpu={c1 - c0:.2f}s -> {share:.2f}% of a core per "
          f"listener; heard={sorted(set(words))[:6]} ({len(words)} transcripts)")

if __name__ == "__main__":
    asyncio.run(main())
