"""The IVR dialplan language: pydantic models of the YAML an admin edits.

A dialplan reads top to bottom: settings (languages, voice, hours), an optional greeting,
an optional post-call `rating`, then `nodes`, each a `type:` of menu, collect, play, answer, bot, operator, condition,
goto, set, language or hangup.  Cross-node rules (destinations exist, reachability,
operator exit, loops) live in `ivr.check`; these models only check each value.
"""

from __future__ import annotations

import functools
import re
from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import re2
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

DTMF_KEYS = "0123456789*#"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME_RANGE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_DAY_RANGE = re.compile(r"^([a-z]{3})(?:\s*-\s*([a-z]{3}))?$")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# `matches` patterns are the admin's and run on caller input: RE2 matches in time linear in
# the input, whatever the pattern (docs/decisions/0002-linear-time-regex.md)
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad pattern is reported at its file:line, not on stderr


@functools.lru_cache(maxsize=256)
def compile_matches(pattern: str) -> Any:
    """The RE2 regular expression of a `matches` condition, compiled once; ValueError for a
    pattern RE2 cannot compile."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args else str(exc)
        hint = ""
        if reason.endswith("\\Z"):
            hint = "; RE2 writes the end of the text as \\z"
        elif "invalid perl operator" in reason or re.search(r"escape sequence: \\[1-9]$", reason):
            hint = "; RE2 has no look-around, atomic groups or backreferences"
        raise ValueError(f"bad regular expression: {reason}{hint}") from None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- scalar types


def _to_str(value: Any) -> Any:
    """YAML reads `0` and `1` as numbers; DTMF keys are text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _dtmf_key(value: str) -> str:
    if len(value) != 1 or value not in DTMF_KEYS:
        raise ValueError(f"a key must be one of 0-9, * or #, got {value!r}")
    return value


def _var_name(value: str) -> str:
    if not _VAR_NAME.match(value):
        raise ValueError(f"variable names use letters, digits and _ only, got {value!r}")
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name like Europe/Moscow)"
        ) from None
    return value


def parse_days(spec: str) -> list[int]:
    """'mon-fri' -> [0..4]; 'sat' -> [5]."""
    m = _DAY_RANGE.match(spec.strip().lower())
    if not m or m.group(1) not in WEEKDAYS or (m.group(2) and m.group(2) not in WEEKDAYS):
        raise ValueError(f"weekday must be mon..sun or a range like mon-fri, got {spec!r}")
    first = WEEKDAYS.index(m.group(1))
    last = WEEKDAYS.index(m.group(2)) if m.group(2) else first
    if last < first:
        raise ValueError(f"weekday range {spec!r} runs backwards")
    return list(range(first, last + 1))


def parse_time_range(spec: str) -> tuple[int, int]:
    """'09:00-18:00' -> minutes since midnight (540, 1080); end may be 24:00."""
    m = _TIME_RANGE.match(spec.strip())
    if not m:
        raise ValueError(f"time range must look like 09:00-18:00, got {spec!r}")
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"no such time in {spec!r}")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= start:
        raise ValueError(f"time range {spec!r} ends before it starts")
    return start, end


def _days(value: str) -> str:
    parse_days(value)
    return value


def _hours(value: str | list[str]) -> str | list[str]:
    specs = [value] if isinstance(value, str) else value
    if specs == ["closed"]:
        return value
    ranges = sorted(parse_time_range(s) for s in specs)
    for (_, end), (start, _) in zip(ranges, ranges[1:], strict=False):
        if start < end:
            raise ValueError("time ranges overlap")
    return value


def _holiday(value: Any) -> Any:
    if isinstance(value, str):
        try:
            date.fromisoformat(value)
            return value
        except ValueError:
            pass
        if re.match(r"^\d{2}-\d{2}$", value):
            try:
                date.fromisoformat(f"2000-{value}")  # leap year: 02-29 allowed
                return value
            except ValueError:
                pass
        raise ValueError(f"holiday must be a date YYYY-MM-DD or a yearly MM-DD, got {value!r}")
    return value


# lengths the database keeps: recordings.node (100); dialplan_versions.version_id and
# calls.dialplan_version (120) hold name@version#sha12
NODE_ID_MAX, NAME_MAX, VERSION_MAX = 100, 80, 20


def _version(value: str) -> str:
    if not 1 <= len(value) <= VERSION_MAX:
        raise ValueError(f"String should have at most {VERSION_MAX} characters and at least 1 (got {len(value)})")
    return value


_STR_OR_INT = WithJsonSchema({"type": ["string", "integer"]})
Str = Annotated[str, BeforeValidator(_to_str), _STR_OR_INT]  # YAML may read it as a number
Key = Annotated[str, BeforeValidator(_to_str), AfterValidator(_dtmf_key), _STR_OR_INT]
VarName = Annotated[str, AfterValidator(_var_name)]
NodeId = Annotated[str, Field(min_length=1, max_length=NODE_ID_MAX,
                              description="id of a node under `nodes`")]
Text = Annotated[
    str | dict[str, str],
    Field(description="text for the default language, or a mapping language -> text"),
]
Seconds = Annotated[float, Field(gt=0, le=120)]


# ---------------------------------------------------------------- prompts


class PromptItem(Strict):
    """One thing the caller hears: synthesized text (`say`) or a sound file (`file`)."""

    say: Text | None = Field(None, description="text spoken by TTS; may use {variables}")
    file: Text | None = Field(
        None, description="sound file name without extension, as Playback() takes it"
    )

    @model_validator(mode="after")
    def _one_of(self) -> PromptItem:
        if (self.say is None) == (self.file is None):
            raise ValueError("a prompt needs exactly one of `say` or `file`")
        return self


def _normalize_prompt(value: Any) -> Any:
    """Accept the short spellings an admin writes and turn them into a list of items:
    "text", {en: "...", ru: "..."}, {say: ...}, {file: ...}, or a list of those."""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, str):
            out.append({"say": item})
        elif isinstance(item, dict) and item and not set(item) & {"say", "file"}:
            out.append({"say": item})  # a language -> text mapping
        else:
            out.append(item)
    return out


_TEXT_SCHEMA = {
    "anyOf": [
        {"type": "string"},
        {"type": "object", "additionalProperties": {"type": "string"}},
    ]
}
_ITEM_SCHEMA = {
    "type": "object",
    "properties": {
        "say": {**_TEXT_SCHEMA, "description": "text spoken by TTS; may use {variables}"},
        "file": {**_TEXT_SCHEMA, "description": "sound file name without extension"},
    },
    "additionalProperties": False,
}
_PROMPT_SCHEMA = {
    "description": 'what the caller hears: "text", {en: ..., ru: ...}, {say: ...}, '
    "{file: ...}, or a list of those played in order",
    "anyOf": [
        *_TEXT_SCHEMA["anyOf"],
        _ITEM_SCHEMA,
        {"type": "array", "items": {"anyOf": [*_TEXT_SCHEMA["anyOf"], _ITEM_SCHEMA]}},
    ],
}

Prompt = Annotated[
    list[PromptItem],
    BeforeValidator(_normalize_prompt),
    WithJsonSchema(_PROMPT_SCHEMA),
]


def prompt_items(prompt: list[PromptItem] | None) -> list[PromptItem]:
    return list(prompt or [])


# ---------------------------------------------------------------- nodes


class _Retrying(Strict):
    """Shared by nodes that wait for keys."""

    prompt: Prompt
    timeout: Seconds = Field(5, description="seconds to wait for a key after the prompt")
    retries: int = Field(
        2, ge=0, le=10, description="times the prompt is repeated after no input or a bad key"
    )
    on_no_input: NodeId | None = Field(
        None, description="where to go when retries run out on silence (default: operator)"
    )
    on_invalid: NodeId | None = Field(
        None, description="where to go when retries run out on bad keys (default: operator)"
    )
    no_input_prompt: Prompt | None = Field(None, description="heard before a repeat on silence")
    invalid_prompt: Prompt | None = Field(None, description="heard before a repeat on a bad key")
    operator_exit: bool = Field(
        True, description="the operator key transfers to the operator from here"
    )
    operator_exit_exception: str | None = Field(
        None, description="why this node may turn off or remap the operator key"
    )


class MenuNode(_Retrying):
    """Play a prompt (interruptible) and branch on one key."""

    type: Literal["menu"]
    options: dict[Key, NodeId] = Field(min_length=1)


class CollectNode(_Retrying):
    """Collect several digits into a variable."""

    type: Literal["collect"]
    into: VarName
    min_digits: int = Field(1, ge=1, le=40)
    max_digits: int = Field(20, ge=1, le=40)
    terminator: Str | None = Field(
        "#", description='key ending the input early, e.g. "#" (quote it in YAML)'
    )
    next: NodeId

    @model_validator(mode="after")
    def _lengths(self) -> CollectNode:
        if self.min_digits > self.max_digits:
            raise ValueError("min_digits is larger than max_digits")
        if self.terminator is not None and self.terminator not in ("#", "*"):
            raise ValueError('terminator must be "#" or "*"')
        return self


class LanguageNode(_Retrying):
    """A menu whose keys choose the caller's language."""

    type: Literal["language"]
    options: dict[Key, str] = Field(min_length=1, description="key -> language code")
    next: NodeId
    skip_when_known: bool = Field(
        False,
        description="a known caller whose language is one of the options (set in the "
        "directory, or chosen by key on their last call) goes straight to `next` in it",
    )


class PlayNode(Strict):
    type: Literal["play"]
    prompt: Prompt
    interruptible: bool = Field(False, description="a key press skips the rest of the prompt")
    next: NodeId


class AnswerNode(Strict):
    """Ask the lottery database, say the answer, go on."""

    type: Literal["answer"]
    query: Literal["ticket_status", "next_draw", "winning_numbers", "claim_rules"]
    args: dict[VarName, str] = Field(
        default_factory=dict, description="arguments; values may use {variables}"
    )
    prompt: Prompt | None = Field(None, description="heard before the answer, e.g. 'One moment'")
    next: NodeId
    on_error: NodeId | None = Field(None, description="when the lookup fails (default: operator)")


class BotNode(Strict):
    type: Literal["bot"]
    prompt: Prompt | None = None
    topic: str | None = Field(None, description="hint for the voice bot, e.g. ticket_check")
    slots: list[VarName] = Field(
        default_factory=list, description="variables the bot may fill for later nodes"
    )
    next: NodeId = Field(description="where to go when the bot finishes on its own")
    on_operator: NodeId | None = Field(
        None,
        description="where to go when the caller asks the bot for a person (default: operator)",
    )


class OperatorNode(Strict):
    type: Literal["operator"]
    prompt: Prompt | None = None
    reason: str | None = None
    category: str | None = None
    intent: str | None = None
    record: bool = True
    on_failure: NodeId | None = Field(
        None, description="where to go when nobody answers (default: hang up)"
    )


class GotoNode(Strict):
    type: Literal["goto"]
    to: NodeId


class Check(Strict):
    """One `when` entry: every check given must hold, then `goto`."""

    business_hours: Literal["open", "closed"] | None = None
    holiday: bool | None = None
    known_caller: bool | None = None
    vip: bool | None = None
    language: str | None = None
    variable: VarName | None = None
    equals: Str | None = None
    matches: str | None = Field(
        None, description="regular expression (RE2 syntax), searched in the value")
    in_: list[Str] | None = Field(None, alias="in")
    goto: NodeId

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("matches")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            compile_matches(value)
        return value

    @model_validator(mode="after")
    def _shape(self) -> Check:
        tests = (self.equals, self.matches, self.in_)
        if self.variable is None and any(t is not None for t in tests):
            raise ValueError("`equals`, `matches` and `in` need `variable`")
        if self.variable is not None and sum(t is not None for t in tests) != 1:
            raise ValueError("`variable` needs exactly one of `equals`, `matches` or `in`")
        checks = (
            self.business_hours,
            self.holiday,
            self.known_caller,
            self.vip,
            self.language,
            self.variable,
        )
        if all(c is None for c in checks):
            raise ValueError("a `when` entry needs at least one check")
        return self


class ConditionNode(Strict):
    type: Literal["condition"]
    when: list[Check] = Field(min_length=1)
    else_: NodeId = Field(alias="else")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SetNode(Strict):
    type: Literal["set"]
    set: dict[VarName, Str] = Field(min_length=1)
    next: NodeId


class HangupNode(Strict):
    type: Literal["hangup"]
    prompt: Prompt | None = None


Node = Annotated[
    MenuNode
    | CollectNode
    | LanguageNode
    | PlayNode
    | AnswerNode
    | BotNode
    | OperatorNode
    | GotoNode
    | ConditionNode
    | SetNode
    | HangupNode,
    Field(discriminator="type"),
]
INPUT_NODES = (MenuNode, CollectNode, LanguageNode, BotNode)
KEYED_NODES = (MenuNode, CollectNode, LanguageNode)


# ---------------------------------------------------------------- top level


class Greeting(Strict):
    known: Prompt | None = Field(
        None, description="for a caller found in the directory; may use {caller_name}"
    )
    unknown: Prompt | None = None
    rating_notice: Prompt = Field(
        description="tells every caller they will be asked to rate the call afterwards"
    )


class Rating(Strict):
    """The post-call rating: asked when the operator hangs up first and the caller stays on.

    The caller presses one of `keys` (the key is the score); no key or another key hears
    `retry` (up to `retries` times), then `thanks`, and the call ends.  A caller who says
    nothing, or hangs up, is stored as "no rating".
    """

    ask: Prompt = Field(description="asks for the rating and names the keys")
    retry: Prompt = Field(description="heard after no key or a key that is not a score")
    thanks: Prompt = Field(description="heard before the call ends, rated or not")
    keys: Str = Field(
        "12345", description='keys that rate the call; the key is the score (1-5), e.g. "12345"'
    )
    timeout: Seconds = Field(5, description="seconds to wait for a key after the prompt")
    retries: int = Field(1, ge=0, le=3, description="times `retry` is heard before giving up")

    @model_validator(mode="after")
    def _scores(self) -> Rating:
        if not self.keys or any(k not in "12345" for k in self.keys):
            raise ValueError('rating keys are scores 1-5, e.g. "12345"')
        if len(set(self.keys)) != len(self.keys):
            raise ValueError("a rating key is listed twice")
        return self


class QueueOverflow(Strict):
    """Past `after` seconds of waiting, the pool also rings the team leads or a second team."""

    after: int = Field(ge=5, le=3600, description="seconds a caller waits before the overflow rings too")
    ring: Literal["team_leads"] | None = Field(None, description="team_leads: every team's lead")
    team: str | None = Field(None, min_length=1, max_length=80,
                             description="a second team (directory name): its members ring too")

    @model_validator(mode="after")
    def _one_target(self) -> QueueOverflow:
        if (self.ring is None) == (self.team is None):
            raise ValueError("overflow needs exactly one of `ring: team_leads` or `team`")
        return self


class QueueCallback(Strict):
    """A callback instead of waiting: the caller presses `key` while in the queue, hears
    `confirm` ({number}: their caller ID, digit by digit), presses `key` again or keys another
    number and #, hears `goodbye` and is called back when their turn comes; the operator key
    (or no key within `timeout`) returns them to waiting.  The caller keeps their place until
    they confirm, and the request keeps it afterwards (docs/decisions/0008)."""

    key: Key = "1"
    offer: Text = Field(description="said after each announcement, e.g. 'Press 1 to be called "
                        "back, keeping your place.'")
    confirm: Text = Field(description="must use {number}: 'We will call you back on {number}. "
                          "Press 1 to confirm, or key another number followed by #.'")
    goodbye: Text = Field(description="may use {number}; heard before the call ends")
    timeout: int = Field(10, ge=3, le=60, description="seconds for a key after `confirm`")
    attempts: int = Field(3, ge=1, le=10, description="times the caller's phone is rung")
    retry_after: int = Field(120, ge=10, le=3600, description="seconds between those tries")
    ring_caller: int = Field(30, ge=5, le=120, description="seconds the caller's phone rings")
    business_hours_only: bool = Field(
        True, description="outside `business_hours` (and on holidays) callbacks wait for the opening")
    listen: bool = Field(
        False, description="also hear the caller say 'call me back' (then 'yes', or 'operator' / "
        "'no' to go on waiting) while waiting: one speech listener per waiting caller, up to the "
        "service's limit; needs the voice bot (keys work either way)")


class QueueWait(Strict):
    """What a caller hears while waiting in the operator pool, and how the pool rings.

    Music on hold plays while nobody rings (ringing only while an operator's phone rings).
    On entering the queue and every `announce_every` seconds the caller hears `position`,
    then `wait` with {wait} one of `less_than_a_minute`, `one_minute`, `minutes` (or
    `no_estimate` when nobody can take calls); a VIP hears `vip` first.
    """

    music: str = Field("default", pattern=r"^[A-Za-z0-9_\-]{1,40}$",
                       description="music-on-hold class (musiconhold.conf)")
    announce_every: int = Field(30, ge=5, le=600, description="seconds between announcements")
    position: Text = Field(description="may use {position} (1 = next) and {waiting}")
    wait: Text = Field(description="must use {wait}: one of the wordings below")
    less_than_a_minute: Text
    one_minute: Text
    minutes: Text = Field(description="must use {minutes}, e.g. 'about {minutes} minutes'")
    no_estimate: Text | None = Field(None, description="instead of `wait` when nobody can take calls")
    vip: Text | None = Field(None, description="heard first by VIP callers")
    overflow: QueueOverflow | None = None
    wrapup: int = Field(0, ge=0, le=600, description="seconds after each pool call before the "
                        "queue rings that operator again")
    callback: QueueCallback | None = Field(None, description="press a key to be called back, "
                                           "keeping your place")


# placeholders each queue text may use, and those it must
QUEUE_TEXT_VARIABLES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "position": (frozenset({"position", "waiting"}), frozenset()),
    "wait": (frozenset({"wait"}), frozenset({"wait"})),
    "less_than_a_minute": (frozenset(), frozenset()),
    "one_minute": (frozenset(), frozenset()),
    "minutes": (frozenset({"minutes"}), frozenset({"minutes"})),
    "no_estimate": (frozenset(), frozenset()),
    "vip": (frozenset({"position", "waiting"}), frozenset()),
}
# the same for the texts of `queue.callback`
CALLBACK_TEXT_VARIABLES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "offer": (frozenset(), frozenset()),
    "confirm": (frozenset({"number"}), frozenset({"number"})),
    "goodbye": (frozenset({"number"}), frozenset()),
}


Weekdays = Annotated[str, AfterValidator(_days)]
Hours = Annotated[str | list[str], AfterValidator(_hours)]
Holiday = Annotated[date | str, AfterValidator(_holiday)]


class Settings(Strict):
    """Everything at the top of the file except `nodes`."""

    version: Annotated[Str, AfterValidator(_version)]
    name: Annotated[str, Field(min_length=1, max_length=NAME_MAX)]
    timezone: Annotated[str, AfterValidator(_timezone)]
    languages: list[str] = Field(min_length=1, description="language codes, default first")
    voice: Text = Field(description="TTS voice, or a mapping language -> voice")
    operator_key: Key = "0"
    operator_node: NodeId = Field(
        "operator", description="the operator node the operator key leads to"
    )
    start: NodeId
    greeting: Greeting | None = None
    rating: Rating | None = Field(
        None, description="the post-call rating; without it the call ends when the operator hangs up"
    )
    business_hours: dict[Weekdays, Hours] = Field(
        default_factory=dict, description='weekday or range -> "09:00-18:00", a list, or "closed"'
    )
    holidays: list[Holiday] = Field(default_factory=list)
    vocabulary: list[str] = Field(
        default_factory=list, description="words for speech grammar hints"
    )
    queue: QueueWait | None = Field(
        None, description="waiting in the operator pool: music, announcements, overflow, wrap-up"
    )

    @property
    def default_language(self) -> str:
        return self.languages[0]


class Dialplan(Settings):
    nodes: dict[NodeId, Node] = Field(min_length=1)
    _source_id: str = PrivateAttr("")

    @property
    def version_id(self) -> str:
        """Names the exact dialplan a call ran: name@version#content-hash."""
        tail = f"#{self._source_id}" if self._source_id else ""
        return f"{self.name}@{self.version}{tail}"

    def with_source_id(self, source_id: str) -> Dialplan:
        self._source_id = source_id
        return self


def opening_hours(settings: Settings) -> dict[int, list[tuple[int, int]]]:
    """weekday (0=Mon) -> list of (start, end) minutes; days not listed are closed."""
    out: dict[int, list[tuple[int, int]]] = {}
    for days, hours in settings.business_hours.items():
        specs = [hours] if isinstance(hours, str) else hours
        ranges = [] if specs == ["closed"] else [parse_time_range(s) for s in specs]
        for d in parse_days(days):
            out[d] = sorted(ranges)
    return out


def is_holiday(settings: Settings, day: date) -> bool:
    for h in settings.holidays:
        if isinstance(h, date):
            if h == day:
                return True
        elif len(h) == 5 and h == day.strftime("%m-%d"):
            return True
        elif h == day.isoformat():
            return True
    return False
