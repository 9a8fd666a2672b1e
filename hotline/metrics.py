"""The service's Prometheus metrics: every definition in one place, on a registry per service.

`Metrics()` makes its own `CollectorRegistry` (never prometheus_client's global one), so
several services in one process (tests) keep their numbers apart, and a component built without
one (a test, the benchmark) counts into a registry nobody scrapes. The composition root makes one
`Metrics` per `Service`, hands it to the adapters and features, and `/metrics` renders its
registry (`hotline.app.metrics_http`; why there: docs/decisions/0005).

Features import this module (it is in the helpers' layer); pure cores never do: they return
effects and the adapters that carry them out count. Labels are small fixed sets (outcomes,
commands, stages, write kinds), never caller numbers, names or ids.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import choose_encoder

__all__ = ["Gauge", "Metrics", "Waiting", "agi_command_name"]

# The call outcomes `ivr.session` stores (its OUTCOMES values, and "failed" for a broken session)
CALL_OUTCOMES = ("completed", "transferred", "transfer_failed", "caller_hung_up", "callback_requested",
                 "failed")
ROUTING_OUTCOMES = ("answered", "failed", "callback")
BOT_OUTCOMES = ("done", "operator", "hangup", "failed")
WAIT_STAGES = ("ring", "queue")  # the caller's operators are rung / the caller is in the pool
# the kinds of write on the one write path (hotline.db.writes.WriteQueue: `what`, first word)
DB_WRITES = ("call_started", "call_event", "call_path", "call_update", "call_answered",
             "call_ended", "attempt_started", "attempt_ended", "recording_started",
             "recording_disabled", "recording_not_started", "recording_finished", "rating",
             "review_flagged")
# AGI commands timed by their reply. EXEC is not: its reply comes when the application ends
# (a Dial or Queue lasts the whole conversation); routing and bot metrics cover those.
AGI_COMMANDS = ("ANSWER", "STREAM FILE", "GET DATA", "WAIT FOR DIGIT", "SET VARIABLE",
                "GET VARIABLE", "GET FULL VARIABLE", "HANGUP", "VERBOSE")

_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
         10.0, 30.0, 60.0)
_DB = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_TURN = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
_RING = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


def agi_command_name(cmd: str) -> str | None:
    """The label of an AGI command line ("STREAM FILE ..." -> "STREAM FILE"); None: not timed."""
    for name in AGI_COMMANDS:
        if cmd == name or cmd.startswith(name + " "):
            return name
    return None


class Waiting:
    """One caller counted in `hotline_callers_waiting` until `done()` (idempotent)."""

    def __init__(self, gauge: Gauge) -> None:
        self._gauge: Gauge | None = gauge
        gauge.inc()

    def done(self) -> None:
        if self._gauge is not None:
            self._gauge.dec()
            self._gauge = None


class Metrics:
    """The metrics of one service. `process=True` adds the process, platform and GC collectors
    (resident memory, CPU seconds, open files: what the issue's growth cases show first)."""

    def __init__(self, *, process: bool = False) -> None:
        r = self.registry = CollectorRegistry()
        if process:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)

        # calls (ivr.session)
        self.calls_in_progress = Gauge(
            "hotline_calls_in_progress", "Calls the IVR is serving now", registry=r)
        self.calls_finished = Counter(
            "hotline_calls_finished", "Calls the IVR finished, by the outcome stored on the call",
            ["outcome"], registry=r)
        self.ivr_setup = Histogram(
            "hotline_ivr_setup_seconds",
            "From the FastAGI session's start to ANSWER: caller lookup and the call's row",
            buckets=_DB, registry=r)
        # FastAGI (hotline.pbx.agi)
        self.agi_command = Histogram(
            "hotline_agi_command_seconds",
            "AGI command sent to its reply. ANSWER, SET/GET VARIABLE, VERBOSE, HANGUP: Asterisk's "
            "round trip; STREAM FILE, GET DATA, WAIT FOR DIGIT include the prompt and the caller",
            ["command"], buckets=_FAST, registry=r)
        # the voice bot (voicebot.gateway)
        self.bot_turn = Histogram(
            "hotline_bot_turn_seconds",
            "Bot turn time: the caller stops speaking to the bot's first audio",
            buckets=_TURN, registry=r)
        self.bot_sessions = Counter(
            "hotline_bot_sessions", "Bot sessions (AudioSocket) finished, by outcome",
            ["outcome"], registry=r)
        # routing (callrouting.router, callrouting.executor)
        self.routing_decision = Histogram(
            "hotline_routing_decision_seconds",
            "Transfer asked to ring plan ready: directory, caller, history and the policy",
            buckets=_DB, registry=r)
        self.routing_to_ring = Histogram(
            "hotline_routing_decision_to_ring_seconds",
            "Ring plan ready to the first operator's phone ringing (AMI DialBegin/AgentCalled)",
            buckets=_RING, registry=r)
        self.routing_finished = Counter(
            "hotline_routing_finished", "Transfers finished, by outcome", ["outcome"], registry=r)
        self.callers_waiting = Gauge(
            "hotline_callers_waiting",
            "Callers waiting for a person: their operators ringing (ring) or in the pool (queue)",
            ["stage"], registry=r)
        # AMI (hotline.pbx.ami), read at scrape time
        self.ami_connected = Gauge(
            "hotline_ami_connected", "1 while the AMI session is logged in", registry=r)
        # the database: the one write path (hotline.db.writes.WriteQueue), behind the callers
        self.db_write = Histogram(
            "hotline_db_write_seconds", "One call-record write, from queued to committed",
            ["op"], buckets=_DB, registry=r)
        self.db_write_failures = Counter(
            "hotline_db_write_failures",
            "Writes in a transaction that failed (retried when transient)", ["op"], registry=r)
        self.db_writes_lost = Counter(
            "hotline_db_writes_lost", "Writes given up (permanent error, or failing too long)",
            ["op"], registry=r)
        self.write_behind_depth = Gauge(
            "hotline_write_behind_queue_depth",
            "Call-record writes queued, not yet committed", registry=r)

        # every label value known up front: a series exists (at 0) before its first event
        for o in CALL_OUTCOMES:
            self.calls_finished.labels(o)
        for o in ROUTING_OUTCOMES:
            self.routing_finished.labels(o)
        for o in BOT_OUTCOMES:
            self.bot_sessions.labels(o)
        for s in WAIT_STAGES:
            self.callers_waiting.labels(s)
        for w in DB_WRITES:
            self.db_write.labels(w)
            self.db_write_failures.labels(w)
            self.db_writes_lost.labels(w)
        for c in AGI_COMMANDS:
            self.agi_command.labels(c)

    def render(self) -> bytes:
        """The registry in the Prometheus text format 0.0.4."""
        return generate_latest(self.registry)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """(body, content type) for a scraper's Accept header: the Prometheus text format, or
        OpenMetrics when asked for (prometheus_client's own negotiation)."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type

    def agi_replied(self, cmd: str, seconds: float) -> None:
        name = agi_command_name(cmd)
        if name is not None:
            self.agi_command.labels(name).observe(seconds)

    def waiting(self, stage: str) -> Waiting:
        return Waiting(self.callers_waiting.labels(stage))
