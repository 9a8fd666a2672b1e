"""The IVR as a pure state machine: (dialplan, state, event, now) -> (state, effects).

No I/O and no clock of its own.  An adapter (FastAGI session, simulator, test) carries
out the effects in order, then feeds back the one event named by `state.awaiting`:

    awaiting      effect that asked         event to send back
    "prompt"      Play                      PromptFinished(key | None)
    "input"       GetDigits                 Input(digits | None)   (None/"" = timeout)
    "lookup"      Lookup                    LookupResult(text | None)  (None = failed)
    "bot"         StartBot                  BotFinished(outcome, intent, slots)
    "transfer"    Transfer                  TransferResult("answered" | "failed")
    "rating"      GetDigits (rating prompt) Input(digits | None)   (None/"" = timeout)
                                            or RatingGiven(...)        (asked by the voice bot)
    None          Hangup (call is over)     nothing

After an answered transfer (the operator hung up first; Dial/Queue option `g` keeps the
caller in the session) a dialplan with a `rating:` section asks for the rating: one key,
`retries` retries on no or a wrong key, then `SaveRating(score | None)`, thanks, hang up.
An adapter with a voice bot may instead ask the whole rating itself (ask and retries, key or
spoken number: `rating_prompts` gives the texts) and send one `RatingGiven`; the machine then
saves it as it is, with no retry of its own.
A caller who hangs up while being asked (or during the conversation, which makes the
GET DATA fail) gets `SaveRating(None)`: "no rating", and the call still counts as served.

Every prompt before the post-call rating can be cut short by the operator key (the caller
reaches a person from the first second of the call): a menu's prompts (the greeting and a
retry's "not a choice" included, they are played as the first prompts of its `GetDigits`)
by any key, every other `Play` by at least the operator key (`escape_digits`).  When a key
stops a `Play` that is not the awaited effect (a greeting, "Connecting you..." before a
Transfer, "One moment" before a Lookup), the adapter skips the step's remaining effects and
sends `PromptInterrupted(key)` instead of the awaited event; the machine then goes to the
operator (or, already on the way to one, transfers at once).

A `language` node with `skip_when_known` is passed through for a caller whose language is
known (`CallerInfo.language`: set in the directory, or chosen on their last call); a caller
who chooses a language by key gets `RememberLanguage` so the adapter can store the choice.

`CallerHungUp` may be sent at any time.  Every node entered, and every retry, is both
appended to `state.path` and emitted as a `RecordPath` effect so the adapter can store it.
Timeouts are measured by the adapter (GET DATA / WAIT FOR DIGIT) and reported as
`Input(None)` or `Timeout()`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal
from zoneinfo import ZoneInfo

from callrouting.events import Transfer, TransferResult
from ivr.model import (
    DTMF_KEYS,
    AnswerNode,
    BotNode,
    Check,
    CollectNode,
    ConditionNode,
    Dialplan,
    GotoNode,
    HangupNode,
    LanguageNode,
    MenuNode,
    OperatorNode,
    PlayNode,
    PromptItem,
    Rating,
    SetNode,
    compile_matches,
    is_holiday,
    opening_hours,
)
from voicebot.events import BotFinished, StartBot

MAX_HOPS = 100
_VAR_REF = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def match_language(language: str | None, choices: list[str]) -> str | None:
    """`language` if it is one of `choices`, else the choice of its primary subtag
    ("en-GB" -> "en"), else None."""
    if not language:
        return None
    if language in choices:
        return language
    primary = language.split("-")[0]
    return next((c for c in choices if c.split("-")[0] == primary), None)


class MachineError(Exception):
    """The adapter sent an event the machine was not waiting for."""


# ---------------------------------------------------------------- caller and events


@dataclass(frozen=True)
class CallerInfo:
    number: str = ""
    name: str | None = None
    known: bool = False
    vip: bool = False
    language: str | None = None  # known language: the directory's, else the last call's
    language_source: str | None = None  # "directory" or "last_call" (for the path)


@dataclass(frozen=True)
class CallStarted:
    caller: CallerInfo = field(default_factory=CallerInfo)
    language: str | None = None


@dataclass(frozen=True)
class PromptFinished:
    key: str | None = None  # key that interrupted an interruptible Play


@dataclass(frozen=True)
class PromptInterrupted:
    """`key` stopped a Play before the awaited effect; the rest of the step was skipped."""

    key: str


@dataclass(frozen=True)
class Input:
    digits: str | None  # None or "" = nothing pressed before the timeout


@dataclass(frozen=True)
class Timeout:
    """Same as Input(None) while waiting for keys; a failure while waiting for a lookup/bot."""


@dataclass(frozen=True)
class LookupResult:
    text: str | None  # None = the lookup failed


@dataclass(frozen=True)
class RatingGiven:
    """The whole rating as the voice bot asked it: `score` None = none after `attempts` prompts
    ("no_input" or "invalid" in `reason`); `via` "key" or "speech"; `heard` what was said."""

    score: int | None
    via: Literal["key", "speech"] | None = None
    attempts: int = 1
    reason: str = "rated"
    heard: str = ""


@dataclass(frozen=True)
class CallerHungUp:
    pass


Event = (
    CallStarted
    | PromptFinished
    | PromptInterrupted
    | Input
    | Timeout
    | LookupResult
    | BotFinished
    | TransferResult
    | RatingGiven
    | CallerHungUp
)


# ---------------------------------------------------------------- effects


@dataclass(frozen=True)
class ResolvedPrompt:
    """One thing to play: `text` for TTS in `voice`, or a sound `file` (no extension)."""

    text: str | None
    file: str | None
    language: str
    voice: str
    part: str = ""  # "greeting" for the call's greeting (the adapter notes when it is cut)


@dataclass(frozen=True)
class Play:
    prompts: tuple[ResolvedPrompt, ...]
    escape_digits: str = ""  # keys that stop playback ("" = not interruptible)
    # every Play the machine emits before the post-call rating has at least the operator key


@dataclass(frozen=True)
class GetDigits:
    """Play prompts (keys interrupt them), then collect keys.

    Stop at `max_digits`, at `terminator` (not included in the result), or after
    `timeout` seconds without a key.  AGI: STREAM FILE with escape digits for all but the
    last prompt, GET DATA on the last one; for a menu max_digits is 1.
    """

    prompts: tuple[ResolvedPrompt, ...]
    min_digits: int
    max_digits: int
    timeout: float
    terminator: str | None = None


@dataclass(frozen=True)
class Lookup:
    query: str
    args: Mapping[str, str]
    language: str


@dataclass(frozen=True)
class SaveRating:
    """Store the caller's rating of the conversation; `score` None = no rating."""

    score: int | None
    attempts: int  # prompts heard (1 = rated at the first ask)
    reason: str  # "rated", "no_input", "invalid", "caller_hangup"
    via: str = "key"  # how the score was given: "key" or "speech" (voice bot)


@dataclass(frozen=True)
class RememberLanguage:
    """The caller chose `language` by key: store it with the call (their next call may skip
    the language question)."""

    language: str


@dataclass(frozen=True)
class Hangup:
    reason: str  # "dialplan", "transferred", "transfer_failed", "rated", "not_rated"

    @property
    def rate_first(self) -> bool:
        """The caller talked to an operator and the dialplan has no `rating:` section, so
        the machine did not ask: an adapter may still ask before hanging up."""
        return self.reason == "transferred"


@dataclass(frozen=True)
class PathStep:
    node: str  # node id, or "(start)" / "(caller hung up)" / "(transfer answered)"
    at: datetime
    detail: str = ""


@dataclass(frozen=True)
class RecordPath:
    step: PathStep


Effect = (
    Play | GetDigits | Lookup | StartBot | Transfer | SaveRating | RememberLanguage | Hangup
    | RecordPath
)


# ---------------------------------------------------------------- state


@dataclass(frozen=True)
class CallState:
    dialplan_version: str
    caller: CallerInfo
    language: str
    node: str | None = None
    attempts: int = 0  # retries used at the current node
    variables: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    path: tuple[PathStep, ...] = ()
    awaiting: Literal["prompt", "input", "lookup", "bot", "transfer", "rating"] | None = None
    finished: bool = False
    outcome: str | None = None  # "hangup", "transferred", "transfer_failed", "caller_hangup"
    chosen_language: str | None = None  # chosen by key on this call (RememberLanguage)


_EXPECTED: dict[str | None, tuple[type, ...]] = {
    "prompt": (PromptFinished, PromptInterrupted),
    "input": (Input, Timeout, PromptInterrupted),
    "lookup": (LookupResult, Timeout, PromptInterrupted),
    "bot": (BotFinished, Timeout, PromptInterrupted),
    "transfer": (TransferResult, PromptInterrupted),
    "rating": (Input, Timeout, RatingGiven),
    None: (),
}


def start(
    dialplan: Dialplan, caller: CallerInfo, now: datetime, language: str | None = None
) -> tuple[CallState, list[Effect]]:
    return step(dialplan, None, CallStarted(caller, language), now)


def step(
    dialplan: Dialplan, state: CallState | None, event: Event, now: datetime
) -> tuple[CallState, list[Effect]]:
    """Apply one event. `state` is None only for CallStarted."""
    if isinstance(event, CallStarted):
        if state is not None:
            raise MachineError("CallStarted for a call that already started")
        return _Run.begin(dialplan, event, now).result()
    if state is None:
        raise MachineError(f"{type(event).__name__} before CallStarted")
    if state.finished:
        raise MachineError(f"{type(event).__name__} after the call finished")
    if state.dialplan_version != dialplan.version_id:
        raise MachineError("the call started on another dialplan version")
    run = _Run(dialplan, state, now)
    if isinstance(event, CallerHungUp):
        run.record("(caller hung up)")
        if state.awaiting == "rating":  # talked to an operator: served, but not rated
            run.effects.append(SaveRating(None, state.attempts + 1, "caller_hangup"))
            run.finish("transferred")
        else:
            run.finish("caller_hangup")
        return run.result()
    if not isinstance(event, _EXPECTED[state.awaiting]):
        raise MachineError(f"got {type(event).__name__} while awaiting {state.awaiting}")
    run.handle(event)
    return run.result()


def rating_prompts(dialplan: Dialplan, state: CallState) -> list[tuple[ResolvedPrompt, ...]]:
    """The rating's ask, then one retry prompt per retry, in the call's language: what an
    adapter asking the whole rating itself (`RatingGiven`) plays."""
    rating = dialplan.rating
    if rating is None:
        return []
    run = _Run(dialplan, state, state.path[-1].at if state.path else datetime.min.replace(tzinfo=UTC))
    return [run.resolve(rating.ask)] + [run.resolve(rating.retry)] * rating.retries


# ---------------------------------------------------------------- one step


class _Run:
    """Mutable scratch for one step; frozen back into a CallState at the end."""

    def __init__(self, dialplan: Dialplan, state: CallState, now: datetime):
        self.dp = dialplan
        self.state = state
        self.now = now if now.tzinfo else now.replace(tzinfo=UTC)
        self.variables = dict(state.variables)
        self.language = state.language
        self.node_id = state.node
        self.attempts = state.attempts
        self.awaiting = state.awaiting
        self.path = list(state.path)
        self.effects: list[Effect] = []
        self.finished = False
        self.outcome: str | None = None
        self.chosen_language = state.chosen_language
        self.lead: tuple[ResolvedPrompt, ...] = ()  # the greeting, heard before the first prompt

    @classmethod
    def begin(cls, dp: Dialplan, event: CallStarted, now: datetime) -> _Run:
        caller = event.caller
        language = next(
            (m for lg in (event.language, caller.language) if (m := match_language(lg, dp.languages))),
            dp.default_language,
        )
        run = cls(dp, CallState(dp.version_id, caller, language), now)
        run.record("(start)", f"caller {caller.number or 'unknown'}")
        greeting = dp.greeting
        if greeting is not None:
            items = greeting.known if caller.known and greeting.known else greeting.unknown
            prompts = run.resolve(list(items or []) + list(greeting.rating_notice))
            # heard as the first prompts of the first node: its keys (and 0) cut it short
            run.lead = tuple(replace(p, part="greeting") for p in prompts)
        run.enter(dp.start)
        return run

    def result(self) -> tuple[CallState, list[Effect]]:
        state = replace(
            self.state,
            node=self.node_id,
            attempts=self.attempts,
            variables=MappingProxyType(self.variables),
            language=self.language,
            path=tuple(self.path),
            awaiting=None if self.finished else self.awaiting,
            finished=self.finished,
            outcome=self.outcome,
            chosen_language=self.chosen_language,
        )
        return state, self.effects

    # -- helpers

    def record(self, node: str, detail: str = "") -> None:
        s = PathStep(node, self.now, detail)
        self.path.append(s)
        self.effects.append(RecordPath(s))

    def finish(self, outcome: str) -> None:
        self.finished = True
        self.outcome = outcome
        self.awaiting = None

    def render(self, text: str) -> str:
        values = {
            "caller_name": self.state.caller.name or "",
            "caller_number": self.state.caller.number,
            "language": self.language,
            **self.variables,
        }
        return _VAR_REF.sub(lambda m: values.get(m.group(1), ""), text)

    def pick(self, value: str | Mapping[str, str]) -> tuple[str, str]:
        """(text, language) for the caller's language."""
        if isinstance(value, str):
            return value, self.dp.default_language
        if self.language in value:
            return value[self.language], self.language
        lang = self.dp.default_language if self.dp.default_language in value else next(iter(value))
        return value[lang], lang

    def voice(self, language: str) -> str:
        v = self.dp.voice
        if isinstance(v, str):
            return v
        return v.get(language) or v.get(self.dp.default_language) or next(iter(v.values()))

    def resolve(self, items: list[PromptItem] | None) -> tuple[ResolvedPrompt, ...]:
        out = []
        for item in items or []:
            if item.say is not None:
                text, lang = self.pick(item.say)
                out.append(ResolvedPrompt(self.render(text), None, lang, self.voice(lang)))
            elif item.file is not None:
                name, lang = self.pick(item.file)
                out.append(ResolvedPrompt(None, name, self.language, self.voice(lang)))
        return tuple(out)

    def text_prompt(self, text: str) -> ResolvedPrompt:
        return ResolvedPrompt(text, None, self.language, self.voice(self.language))

    # -- moving between nodes

    def enter(self, node_id: str, via: str | None = None) -> None:
        """Go to a node; pass through nodes that need no caller input."""
        for _ in range(MAX_HOPS):
            node = self.dp.nodes[node_id]
            self.node_id = node_id
            self.attempts = 0
            self.record(node_id, via or "")
            if isinstance(node, GotoNode):
                node_id = node.to
            elif isinstance(node, SetNode):
                self.variables.update({k: self.render(v) for k, v in node.set.items()})
                node_id = node.next
            elif isinstance(node, ConditionNode):
                node_id = next((c.goto for c in node.when if self.holds(c)), node.else_)
            elif isinstance(node, LanguageNode) and (known := self.known_language(node)):
                self.language = known
                source = self.state.caller.language_source or "directory"
                self.record(node_id, f"language {known} known ({source}), not asked")
                node_id, via = node.next, f"language {known}"
                continue
            else:
                self.run_node(node, via)
                return
            via = None
        # only reachable with an unchecked dialplan: fail towards a human
        self.enter(self.dp.operator_node, via="dialplan_loop")

    def to_operator(self, via: str) -> None:
        self.enter(self.dp.operator_node, via=via)

    def known_language(self, node: LanguageNode) -> str | None:
        """The caller's known language when `node` skips the question for it."""
        if not (node.skip_when_known and self.state.caller.known):
            return None
        return match_language(self.state.caller.language, list(node.options.values()))

    def run_node(self, node: Any, via: str | None) -> None:
        if isinstance(node, MenuNode | CollectNode | LanguageNode):
            self.ask(node)
            return
        if self.lead:  # the greeting, before a node that asks for no keys
            self.effects.append(Play(self.lead, self.dp.operator_key))
            self.lead = ()
        if isinstance(node, PlayNode):
            escape = DTMF_KEYS if node.interruptible else self.dp.operator_key
            self.effects.append(Play(self.resolve(node.prompt), escape))
            self.awaiting = "prompt"
        elif isinstance(node, AnswerNode):
            self.play_optional(node.prompt)
            args = {k: self.render(v) for k, v in node.args.items()}
            self.effects.append(Lookup(node.query, MappingProxyType(args), self.language))
            self.awaiting = "lookup"
        elif isinstance(node, BotNode):
            self.play_optional(node.prompt)
            self.effects.append(
                StartBot(node.topic, self.language, MappingProxyType(dict(self.variables)))
            )
            self.awaiting = "bot"
        elif isinstance(node, OperatorNode):
            self.play_optional(node.prompt)
            self.effects.append(Transfer(MappingProxyType(self.transfer_context(node, via))))
            self.awaiting = "transfer"
        elif isinstance(node, HangupNode) and node.prompt:
            # the goodbye is awaited: the operator key still reaches a person from it
            self.play_optional(node.prompt)
            self.awaiting = "prompt"
        elif isinstance(node, HangupNode):
            self.hang_up()
        else:  # pragma: no cover - the union is closed
            raise MachineError(f"unknown node {node!r}")

    def hang_up(self) -> None:
        self.effects.append(Hangup("dialplan"))
        self.finish("hangup")

    def play_optional(self, items: list[PromptItem] | None, escape: str | None = None) -> None:
        """Play `items`; the operator key cuts them short unless `escape` says otherwise."""
        if items:
            keys = self.dp.operator_key if escape is None else escape
            self.effects.append(Play(self.resolve(items), keys))

    def ask(
        self, node: MenuNode | CollectNode | LanguageNode, before: list[PromptItem] | None = None
    ) -> None:
        # the greeting and a retry's "not a choice" are the first prompts of the menu itself,
        # so the menu's keys (and the operator key) cut them short too
        prompts = self.lead + self.resolve(before) + self.resolve(node.prompt)
        self.lead = ()
        if isinstance(node, CollectNode):
            lo, hi, term = node.min_digits, node.max_digits, node.terminator
        else:
            lo, hi, term = 1, 1, None
        self.effects.append(GetDigits(prompts, lo, hi, node.timeout, term))
        self.awaiting = "input"

    def transfer_context(self, node: OperatorNode, via: str | None) -> dict[str, Any]:
        caller = self.state.caller
        return {
            "reason": node.reason or via or "operator",
            "via": via,
            "category": node.category,
            "intent": node.intent or self.variables.get("bot_intent"),
            "record": node.record,
            "vip": caller.vip,
            "known": caller.known,
            "caller_number": caller.number,
            "caller_name": caller.name,
            "language": self.language,
            "node": self.node_id,
            "variables": dict(self.variables),
            "dialplan": self.dp.version_id,
        }

    # -- conditions

    def holds(self, c: Check) -> bool:
        local = self.now.astimezone(ZoneInfo(self.dp.timezone))
        checks = []
        if c.business_hours is not None:
            checks.append((c.business_hours == "open") == self.is_open(local))
        if c.holiday is not None:
            checks.append(c.holiday == is_holiday(self.dp, local.date()))
        if c.known_caller is not None:
            checks.append(c.known_caller == self.state.caller.known)
        if c.vip is not None:
            checks.append(c.vip == self.state.caller.vip)
        if c.language is not None:
            checks.append(c.language == self.language)
        if c.variable is not None:
            value = self.variables.get(c.variable, "")
            if c.equals is not None:
                checks.append(value == c.equals)
            elif c.matches is not None:
                checks.append(compile_matches(c.matches).search(value) is not None)  # RE2
            elif c.in_ is not None:
                checks.append(value in c.in_)
        return all(checks)

    def is_open(self, local: datetime) -> bool:
        if is_holiday(self.dp, local.date()):
            return False
        if not self.dp.business_hours:
            return True  # no hours configured: always open
        minute = local.hour * 60 + local.minute
        ranges = opening_hours(self.dp).get(local.weekday(), [])
        return any(start <= minute < end for start, end in ranges)

    # -- events

    def handle(self, event: Any) -> None:
        node = self.dp.nodes[self.node_id] if self.node_id else None
        if isinstance(event, PromptInterrupted):
            self.on_interrupted(node, event.key)
        elif self.awaiting == "input":
            digits = None if isinstance(event, Timeout) else event.digits
            self.on_input(node, digits)
        elif self.awaiting == "prompt":
            self.on_prompt_finished(node, event.key)
        elif self.awaiting == "lookup":
            text = None if isinstance(event, Timeout) else event.text
            if text is None:
                if node.on_error:
                    self.enter(node.on_error, via="lookup_failed")
                else:
                    self.to_operator("lookup_failed")
            else:
                self.record(self.node_id, "answer")
                self.effects.append(Play((self.text_prompt(text),), self.dp.operator_key))
                self.awaiting = "prompt"
        elif self.awaiting == "bot":
            if isinstance(event, Timeout):
                event = BotFinished("failed")
            self.on_bot_finished(node, event)
        elif self.awaiting == "rating" and isinstance(event, RatingGiven):
            self.on_rating_given(event)
        elif self.awaiting == "rating":
            digits = None if isinstance(event, Timeout) else event.digits
            self.on_rating(digits)
        elif self.awaiting == "transfer":
            if event.outcome == "answered":
                self.record("(transfer answered)")
                if self.dp.rating is not None:
                    self.attempts = 0
                    self.ask_rating(self.dp.rating, self.dp.rating.ask)
                else:
                    self.effects.append(Hangup("transferred"))
                    self.finish("transferred")
            elif event.outcome == "callback":  # the caller heard the goodbye in the queue
                self.record("(callback requested)")
                self.effects.append(Hangup("callback"))
                self.finish("callback")
            elif node.on_failure:
                self.enter(node.on_failure, via="transfer_failed")
            else:
                self.record("(transfer failed)")
                self.effects.append(Hangup("transfer_failed"))
                self.finish("transfer_failed")

    # -- the post-call rating (node stays the operator node; `awaiting` says where we are)

    def ask_rating(self, rating: Rating, prompt: list[PromptItem]) -> None:
        self.effects.append(GetDigits(self.resolve(prompt), 1, 1, rating.timeout))
        self.awaiting = "rating"

    def on_rating(self, digits: str | None) -> None:
        rating = self.dp.rating
        assert rating is not None
        key = (digits or "")[:1]
        if key and key in rating.keys:
            self.record("(rating)", f"rated {key}")
            self.end_rating(SaveRating(int(key), self.attempts + 1, "rated"), "rated")
            return
        kind = "invalid" if key else "no_input"
        detail = f"invalid input {key!r}" if key else "no input"
        if self.attempts < rating.retries:
            self.attempts += 1
            self.record("(rating)", f"{detail}, retry {self.attempts}")
            self.ask_rating(rating, rating.retry)
            return
        self.record("(rating)", f"{detail}, not rated")
        self.end_rating(SaveRating(None, self.attempts + 1, kind), "not_rated")

    def on_rating_given(self, event: RatingGiven) -> None:
        rating = self.dp.rating
        assert rating is not None
        attempts = self.attempts + max(1, event.attempts)
        # a key reads as with GET DATA ("rated 4"); speech says so, with what was heard
        by = f" by speech ({event.heard!r})" if event.via == "speech" else ""
        score = event.score
        if score is not None and str(score) in rating.keys:
            self.record("(rating)", f"rated {score}{by}")
            save = SaveRating(score, attempts, "rated", event.via or "key")
            self.end_rating(save, "rated")
            return
        kind = "invalid" if score is not None or event.reason == "invalid" else "no_input"
        self.record("(rating)", f"{kind.replace('_', ' ')}{by}, not rated")
        self.end_rating(SaveRating(None, attempts, kind, event.via or "key"), "not_rated")

    def end_rating(self, save: SaveRating, reason: str) -> None:
        assert self.dp.rating is not None
        self.effects.append(save)
        self.play_optional(self.dp.rating.thanks, escape="")  # after the call: nothing to cut
        self.effects.append(Hangup(reason))
        self.finish("transferred")

    def on_prompt_finished(self, node: Any, key: str | None) -> None:
        if key == self.dp.operator_key:  # from any prompt: the caller wants a person
            self.to_operator("operator_key")
        elif isinstance(node, HangupNode):
            self.hang_up()
        else:  # a play node, or the answer of an AnswerNode was played
            self.enter(node.next)

    def on_interrupted(self, node: Any, key: str) -> None:
        """A key stopped a prompt played before the awaited effect (which did not run)."""
        if self.awaiting == "input":  # not sent by adapters (menus play their own prompts)
            return self.on_input(node, key)
        if key != self.dp.operator_key:
            raise MachineError(f"key {key!r} interrupted a prompt only the operator key stops")
        if self.awaiting == "transfer" and isinstance(node, OperatorNode):
            # already on the way to a person ("Connecting you...", or a greeting before a
            # VIP's transfer): ring at once, with the transfer as it was planned
            entered = next(s for s in reversed(self.path) if s.node == self.node_id)
            self.record(self.node_id, "operator key: prompt cut short")
            context = self.transfer_context(node, entered.detail or None)
            self.effects.append(Transfer(MappingProxyType(context)))
            return None
        return self.to_operator("operator_key")

    def on_input(self, node: Any, digits: str | None) -> None:
        if not digits:
            return self.failed(node, "no_input")
        if any(ch not in DTMF_KEYS for ch in digits):
            return self.failed(node, "invalid", digits)
        op = self.dp.operator_key
        options = getattr(node, "options", {})
        if isinstance(node, CollectNode) and node.terminator and digits.endswith(node.terminator):
            digits = digits[: -len(node.terminator)]
            if not digits:
                return self.failed(node, "no_input")
        if digits == op and node.operator_exit and op not in options:
            return self.to_operator("operator_key")
        if isinstance(node, MenuNode):
            if digits in node.options:
                return self.enter(node.options[digits], via=f"key {digits}")
            return self.failed(node, "invalid", digits)
        if isinstance(node, LanguageNode):
            if digits in node.options:
                self.language = self.chosen_language = node.options[digits]
                self.effects.append(RememberLanguage(self.language))
                return self.enter(node.next, via=f"language {self.language}")
            return self.failed(node, "invalid", digits)
        assert isinstance(node, CollectNode)
        if digits.isdigit() and node.min_digits <= len(digits) <= node.max_digits:
            self.variables[node.into] = digits
            return self.enter(node.next, via=f"{node.into} entered")
        return self.failed(node, "invalid", digits)

    def failed(
        self, node: MenuNode | CollectNode | LanguageNode, kind: str, digits: str = ""
    ) -> None:
        detail = "no input" if kind == "no_input" else f"invalid input {digits!r}"
        if self.attempts < node.retries:
            attempts = self.attempts + 1
            self.record(self.node_id, f"{detail}, retry {attempts}")
            self.attempts = attempts
            before = node.no_input_prompt if kind == "no_input" else node.invalid_prompt
            self.ask(node, before)
            return
        dest = node.on_no_input if kind == "no_input" else node.on_invalid
        self.record(self.node_id, f"{detail}, retries exhausted")
        if dest is not None:
            self.enter(dest, via=kind)
        else:
            self.to_operator(kind)

    def on_bot_finished(self, node: BotNode, event: BotFinished) -> None:
        self.variables.update({str(k): str(v) for k, v in event.slots.items()})
        if event.intent:
            self.variables["bot_intent"] = event.intent
        self.record(
            self.node_id, f"bot {event.outcome}" + (f" ({event.intent})" if event.intent else "")
        )
        if event.outcome == "done":
            self.enter(node.next)
        elif node.on_operator and event.outcome == "operator":
            self.enter(node.on_operator, via="bot")
        else:
            self.to_operator("bot" if event.outcome == "operator" else "bot_failed")
