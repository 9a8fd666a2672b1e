"""The pure IVR machine: every node type and error path, driven by events and a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ivr.check import parse_dialplan
from ivr.machine import (
    BotFinished,
    CallerHungUp,
    CallerInfo,
    GetDigits,
    Hangup,
    Input,
    Lookup,
    LookupResult,
    MachineError,
    Play,
    PromptFinished,
    RecordPath,
    StartBot,
    Timeout,
    Transfer,
    TransferResult,
    start,
    step,
)

PLAN = """\
version: 3
name: test
timezone: Europe/Moscow
languages: [en, ru]
voice: {en: amy, ru: irina}
start: route
greeting:
  known: {en: "Hello {caller_name}.", ru: "Здравствуйте, {caller_name}."}
  unknown: {en: "Hello.", ru: "Здравствуйте."}
  rating_notice: {en: "You will rate this call.", ru: "Вы оцените звонок."}
business_hours:
  mon-fri: "09:00-18:00"
  sat: "10:00-14:00"
holidays: [2025-01-07, "03-08"]
nodes:
  route:
    type: condition
    when:
      - vip: true
        goto: vip
      - holiday: true
        goto: holiday
      - business_hours: closed
        goto: closed
      - known_caller: true
        language: ru
        goto: known_ru
    else: main
  main:
    type: menu
    prompt: {en: "Press 1 for tickets, 2 for news, 3 for bot, 4 for language.", ru: "Меню."}
    options: {1: ticket, 2: news, 3: bot, 4: lang}
    timeout: 5
    retries: 1
    invalid_prompt: {en: "Not a choice.", ru: "Нет такого."}
    no_input_prompt: {en: "Still there?", ru: "Вы здесь?"}
    on_invalid: bye
    on_no_input: bye
  ticket:
    type: collect
    prompt: {en: "Enter ticket.", ru: "Введите билет."}
    into: ticket
    min_digits: 6
    max_digits: 8
    timeout: 7
    retries: 0
    on_invalid: bye
    next: mark
  mark:
    type: set
    set: {checked: "yes", copy: "{ticket}"}
    next: is_lucky
  is_lucky:
    type: condition
    when:
      - variable: ticket
        equals: "777777"
        goto: lucky
      - variable: ticket
        matches: "^9"
        goto: nines
      - variable: ticket
        in: ["123456", "654321"]
        goto: answer
    else: answer
  lucky:
    type: play
    prompt: {en: "Lucky {copy}!", ru: "Везёт {copy}!"}
    next: answer
  nines:
    type: goto
    to: answer
  answer:
    type: answer
    query: ticket_status
    args: {ticket: "{ticket}"}
    prompt: {en: "Checking {ticket}.", ru: "Проверяю {ticket}."}
    next: main
  news:
    type: play
    prompt: {file: news}
    interruptible: true
    next: main
  bot:
    type: bot
    topic: tickets
    slots: [ticket]
    next: main
  lang:
    type: language
    prompt: {en: "1 English, 2 Russian.", ru: "1 English, 2 Русский."}
    options: {1: en, 2: ru}
    retries: 0
    next: main
  vip:
    type: operator
    reason: vip
    category: vip
    record: false
    on_failure: main
  holiday:
    type: hangup
    prompt: {en: "Closed for the holiday.", ru: "Праздник."}
  closed:
    type: play
    prompt: {en: "We are closed.", ru: "Закрыто."}
    next: bot
  known_ru:
    type: goto
    to: main
  bye:
    type: hangup
  operator:
    type: operator
    prompt: {en: "Connecting.", ru: "Соединяю."}
"""

# 2025-03-04 is a Tuesday; Europe/Moscow is UTC+3
OPEN = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)  # 12:00 local
EVENING = datetime(2025, 3, 4, 16, 0, tzinfo=UTC)  # 19:00 local: closed
SATURDAY_EARLY = datetime(2025, 3, 1, 6, 30, tzinfo=UTC)  # 09:30 local Sat: closed
SATURDAY_OPEN = datetime(2025, 3, 1, 7, 0, tzinfo=UTC)  # 10:00 local Sat: open
FIXED_HOLIDAY = datetime(2025, 1, 7, 9, 0, tzinfo=UTC)
YEARLY_HOLIDAY = datetime(2026, 3, 8, 9, 0, tzinfo=UTC)
LOCAL_MIDNIGHT_EDGE = datetime(2025, 3, 7, 21, 30, tzinfo=UTC)  # Sat 00:30 local (holiday 03-08)

UNKNOWN = CallerInfo(number="+7900")
KNOWN = CallerInfo(number="+7901", name="Anna", known=True)


@pytest.fixture(scope="module")
def dp():
    dialplan, problems = parse_dialplan(PLAN, "t.yaml")
    assert problems == [], [str(p) for p in problems]
    return dialplan


def main_effects(effects):
    return [e for e in effects if not isinstance(e, RecordPath)]


def texts(effects):
    return [
        p.text or f"<{p.file}>"
        for e in effects
        if isinstance(e, Play | GetDigits)
        for p in e.prompts
    ]


def at_main(dp, caller=UNKNOWN, now=OPEN, language=None):
    state, _ = start(dp, caller, now, language)
    assert state.node == "main" and state.awaiting == "input"
    return state


def drive(dp, state, *events, now=OPEN):
    effects = []
    for ev in events:
        state, effects = step(dp, state, ev, now)
    return state, effects


# ---------------------------------------------------------------- start, greeting, conditions


def test_unknown_caller_greeting_then_menu(dp):
    state, effects = start(dp, UNKNOWN, OPEN)
    assert texts(effects) == [
        "Hello.",
        "You will rate this call.",
        "Press 1 for tickets, 2 for news, 3 for bot, 4 for language.",
    ]
    menu = main_effects(effects)[-1]
    assert menu == GetDigits(menu.prompts, 1, 1, 5.0, None)
    assert menu.prompts[0].voice == "amy" and menu.prompts[0].language == "en"
    assert [s.node for s in state.path] == ["(start)", "route", "main"]
    assert [e.step for e in effects if isinstance(e, RecordPath)] == list(state.path)
    assert state.dialplan_version.startswith("test@3#")


def test_known_caller_greeted_by_name_in_their_language(dp):
    caller = CallerInfo(number="+7901", name="Анна", known=True, language="ru")
    state, effects = start(dp, caller, OPEN)
    assert texts(effects)[:2] == ["Здравствуйте, Анна.", "Вы оцените звонок."]
    assert state.language == "ru"
    assert [s.node for s in state.path][-2:] == ["known_ru", "main"]


def test_language_from_call_start_overrides_and_unknown_language_falls_back(dp):
    assert start(dp, UNKNOWN, OPEN, language="ru")[0].language == "ru"
    assert start(dp, UNKNOWN, OPEN, language="fr")[0].language == "en"


@pytest.mark.parametrize(
    "now, caller, node",
    [
        (OPEN, UNKNOWN, "main"),
        (OPEN, CallerInfo(vip=True), "vip"),
        (EVENING, CallerInfo(vip=True), "vip"),
        (EVENING, UNKNOWN, "bot"),
        (SATURDAY_EARLY, UNKNOWN, "bot"),
        (SATURDAY_OPEN, UNKNOWN, "main"),
        (datetime(2025, 3, 2, 9, 0, tzinfo=UTC), UNKNOWN, "bot"),  # Sunday: not listed, closed
        (FIXED_HOLIDAY, UNKNOWN, "holiday"),
        (YEARLY_HOLIDAY, UNKNOWN, "holiday"),
        (LOCAL_MIDNIGHT_EDGE, UNKNOWN, "holiday"),  # UTC Friday, local Saturday 8 March
        (datetime(2025, 3, 4, 12, 0), UNKNOWN, "main"),  # naive = UTC: 15:00 local
    ],
)
def test_routing_by_time_holiday_and_vip(dp, now, caller, node):
    state, effects = start(dp, caller, now)
    if node == "bot":  # closed: play then the bot
        assert state.node == "closed"
        state, effects = step(dp, state, PromptFinished(), now)
    assert state.node == node


def test_vip_transfer_context(dp):
    state, effects = start(
        dp, CallerInfo(number="+7902", name="Ivanova", known=True, vip=True), OPEN
    )
    [transfer] = [e for e in effects if isinstance(e, Transfer)]
    ctx = transfer.context
    assert (ctx["reason"], ctx["category"], ctx["vip"], ctx["record"]) == (
        "vip",
        "vip",
        True,
        False,
    )
    assert ctx["caller_name"] == "Ivanova" and state.awaiting == "transfer"


# ---------------------------------------------------------------- menu


def test_menu_key_goes_to_option(dp):
    state, effects = drive(dp, at_main(dp), Input("2"))
    assert state.node == "news"
    [play] = main_effects(effects)
    assert play.prompts[0].file == "news" and play.escape_digits == "0123456789*#"


@pytest.mark.parametrize("kind", ["no_input", "invalid"])
def test_menu_retry_then_destination(dp, kind):
    bad = Input(None) if kind == "no_input" else Input("9")
    retry_text = "Still there?" if kind == "no_input" else "Not a choice."
    state, effects = drive(dp, at_main(dp), bad)
    assert state.node == "main" and state.attempts == 1
    assert texts(effects) == [
        retry_text,
        "Press 1 for tickets, 2 for news, 3 for bot, 4 for language.",
    ]
    state, effects = drive(dp, state, bad)
    assert state.node == "bye" and state.finished and state.outcome == "hangup"
    assert main_effects(effects) == [Hangup("dialplan")]
    assert state.path[-2].detail.endswith("retries exhausted")


@pytest.mark.parametrize("empty", [Input(None), Input(""), Timeout()])
def test_timeouts_count_as_no_input(dp, empty):
    state, _ = drive(dp, at_main(dp), empty)
    assert state.attempts == 1 and "no input" in state.path[-1].detail


@pytest.mark.parametrize("junk", ["a", "1;", "\n", "1 ", "ф", "5"])
def test_non_dtmf_or_unknown_keys_are_invalid(dp, junk):
    state, _ = drive(dp, at_main(dp), Input(junk))
    assert state.node == "main" and "invalid input" in state.path[-1].detail


def test_retries_reset_on_a_new_node(dp):
    state, _ = drive(dp, at_main(dp), Input("9"), Input("1"))
    assert state.node == "ticket" and state.attempts == 0


# ---------------------------------------------------------------- operator key everywhere


@pytest.mark.parametrize(
    "path", [[], [Input("1")], [Input("4")], [Input("9")], [Input("2"), PromptFinished()]]
)
def test_operator_key_from_every_keyed_node(dp, path):
    state, _ = drive(dp, at_main(dp), *path) if path else (at_main(dp), None)
    state, effects = step(dp, state, Input("0"), OPEN)
    assert state.node == "operator" and state.awaiting == "transfer"
    assert texts(effects) == ["Connecting."]
    transfer = main_effects(effects)[-1]
    assert transfer.context["reason"] == "operator_key"


def test_operator_key_barges_into_interruptible_play(dp):
    state, _ = drive(dp, at_main(dp), Input("2"))
    state, _ = step(dp, state, PromptFinished("0"), OPEN)
    assert state.node == "operator"
    state, _ = drive(dp, at_main(dp), Input("2"), PromptFinished("5"))
    assert state.node == "main"


def test_retries_exhausted_without_destination_go_to_operator(dp):
    state, _ = drive(dp, at_main(dp), Input("1"), Input("12"))  # collect, retries 0, on_invalid bye
    assert state.node == "bye"
    state, effects = drive(dp, at_main(dp), Input("1"), Input(None))  # no on_no_input
    assert state.node == "operator"
    assert main_effects(effects)[-1].context["reason"] == "no_input"


@pytest.mark.parametrize(
    "result, node, outcome, hangup",
    [
        ("answered", "operator", "transferred", "transferred"),
        ("failed", "operator", "transfer_failed", "transfer_failed"),
        ("callback", "operator", "callback", "callback"),  # asked while waiting: no rating
    ],
)
def test_transfer_results(dp, result, node, outcome, hangup):
    state, _ = drive(dp, at_main(dp), Input("0"), TransferResult(result))
    assert state.finished and state.outcome == outcome
    assert state.node == node


def test_transfer_failure_with_destination(dp):
    state, _ = start(dp, CallerInfo(vip=True), OPEN)
    state, _ = step(dp, state, TransferResult("failed"), OPEN)
    assert state.node == "main"


def test_answered_transfer_asks_for_rating(dp):
    _, effects = drive(dp, at_main(dp), Input("0"), TransferResult("answered"))
    assert main_effects(effects) == [Hangup("transferred")] and effects[-1].rate_first


# ---------------------------------------------------------------- collect, set, conditions on variables, answer


@pytest.mark.parametrize("digits", ["123456", "12345678", "123456#"])
def test_collect_accepts_valid_ticket(dp, digits):
    state, effects = drive(dp, at_main(dp), Input("1"), Input(digits))
    assert state.variables["ticket"] == digits.rstrip("#")
    assert state.variables["checked"] == "yes" and state.variables["copy"] == digits.rstrip("#")
    assert state.node == "answer" and state.awaiting == "lookup"
    assert Lookup("ticket_status", {"ticket": digits.rstrip("#")}, "en") in effects


@pytest.mark.parametrize("digits", ["12345", "123456789", "12*456", "#"])
def test_collect_rejects_bad_tickets(dp, digits):
    state, _ = drive(dp, at_main(dp), Input("1"), Input(digits))
    assert state.node == ("bye" if digits != "#" else "operator")


def test_collect_effect_shape(dp):
    _, effects = drive(dp, at_main(dp), Input("1"))
    assert main_effects(effects)[-1] == GetDigits(main_effects(effects)[-1].prompts, 6, 8, 7.0, "#")


@pytest.mark.parametrize(
    "ticket, nodes",
    [
        ("777777", ["mark", "is_lucky", "lucky"]),
        ("912345", ["mark", "is_lucky", "nines", "answer"]),
        ("123456", ["mark", "is_lucky", "answer"]),
        ("555555", ["mark", "is_lucky", "answer"]),
    ],
)
def test_variable_conditions(dp, ticket, nodes):
    state, effects = drive(dp, at_main(dp), Input("1"), Input(ticket))
    assert [s.node for s in state.path][-len(nodes) :] == nodes
    if ticket == "777777":
        assert texts(effects) == [f"Lucky {ticket}!"]


def test_answer_plays_lookup_text_then_next(dp):
    state, effects = drive(dp, at_main(dp), Input("1"), Input("123456"))
    assert texts(effects) == ["Checking 123456."]
    state, effects = step(dp, state, LookupResult("Ticket 123456 won 100 roubles."), OPEN)
    assert texts(effects) == ["Ticket 123456 won 100 roubles."] and state.awaiting == "prompt"
    state, _ = step(dp, state, PromptFinished(), OPEN)
    assert state.node == "main"


@pytest.mark.parametrize("failure", [LookupResult(None), Timeout()])
def test_failed_lookup_goes_to_operator(dp, failure):
    state, effects = drive(dp, at_main(dp), Input("1"), Input("123456"), failure)
    assert state.node == "operator"
    assert main_effects(effects)[-1].context["reason"] == "lookup_failed"


# ---------------------------------------------------------------- bot


def test_bot_done_goes_next_and_keeps_slots(dp):
    state, effects = drive(dp, at_main(dp), Input("3"))
    assert main_effects(effects) == [StartBot("tickets", "en", {})]
    state, _ = step(dp, state, BotFinished("done", "ticket_check", {"ticket": "123456"}), OPEN)
    assert state.node == "main"
    assert state.variables["ticket"] == "123456" and state.variables["bot_intent"] == "ticket_check"


@pytest.mark.parametrize(
    "event, reason",
    [
        (BotFinished("operator", "claim"), "bot"),
        (BotFinished("failed"), "bot_failed"),
        (Timeout(), "bot_failed"),
    ],
)
def test_bot_hands_over_to_operator_with_intent(dp, event, reason):
    state, effects = drive(dp, at_main(dp), Input("3"), event)
    assert state.node == "operator"
    ctx = main_effects(effects)[-1].context
    assert ctx["reason"] == reason
    assert ctx["intent"] == (event.intent if isinstance(event, BotFinished) else None)


# ---------------------------------------------------------------- language


@pytest.mark.parametrize("key, lang, heard", [("1", "en", "Press 1"), ("2", "ru", "Меню.")])
def test_language_choice(dp, key, lang, heard):
    state, effects = drive(dp, at_main(dp), Input("4"), Input(key))
    assert state.language == lang and state.node == "main"
    assert texts(effects)[0].startswith(heard)
    assert main_effects(effects)[-1].prompts[0].voice == {"en": "amy", "ru": "irina"}[lang]


def test_language_invalid_goes_to_operator(dp):
    state, _ = drive(dp, at_main(dp), Input("4"), Input("7"))
    assert state.node == "operator" and state.language == "en"


# ---------------------------------------------------------------- hangups and misuse


def test_holiday_hangup_plays_prompt_then_hangs_up(dp):
    state, effects = start(dp, UNKNOWN, FIXED_HOLIDAY)
    greeting, goodbye = main_effects(effects)
    assert [p.part for p in greeting.prompts] == ["greeting", "greeting"]
    assert goodbye == Play(goodbye.prompts, "0")  # the goodbye is awaited: 0 still works
    assert texts(effects)[-1] == "Closed for the holiday."
    assert state.awaiting == "prompt" and not state.finished
    state, effects = step(dp, state, PromptFinished(), FIXED_HOLIDAY)
    assert main_effects(effects) == [Hangup("dialplan")] and state.finished


def test_operator_key_during_the_goodbye_reaches_a_person(dp):
    state, _ = start(dp, UNKNOWN, FIXED_HOLIDAY)
    state, effects = step(dp, state, PromptFinished("0"), FIXED_HOLIDAY)
    assert state.node == "operator" and state.awaiting == "transfer"
    assert main_effects(effects)[-1].context["via"] == "operator_key"


def test_caller_hangup_any_time(dp):
    state, effects = step(dp, at_main(dp), CallerHungUp(), OPEN)
    assert state.finished and state.outcome == "caller_hangup" and state.awaiting is None
    assert effects == [RecordPath(state.path[-1])]


@pytest.mark.parametrize(
    "event", [PromptFinished(), LookupResult("x"), BotFinished("done"), TransferResult("answered")]
)
def test_unexpected_event_is_an_error(dp, event):
    with pytest.raises(MachineError):
        step(dp, at_main(dp), event, OPEN)


def test_events_after_finish_or_before_start_are_errors(dp):
    state, _ = step(dp, at_main(dp), CallerHungUp(), OPEN)
    with pytest.raises(MachineError):
        step(dp, state, Input("1"), OPEN)
    with pytest.raises(MachineError):
        step(dp, None, Input("1"), OPEN)


def test_state_is_immutable_and_steps_are_pure(dp):
    state = at_main(dp)
    a = step(dp, state, Input("2"), OPEN)
    b = step(dp, state, Input("2"), OPEN)
    assert a == b and state.node == "main"
    with pytest.raises(TypeError):
        state.variables["x"] = "1"  # type: ignore[index]


def test_path_times_come_from_now(dp):
    later = datetime(2025, 3, 4, 9, 5, tzinfo=UTC)
    state, _ = step(dp, at_main(dp), Input("2"), later)
    assert state.path[0].at == OPEN and state.path[-1].at == later


# ---------------------------------------------------------------- admin patterns on caller input (RE2)

CATASTROPHIC = """\
version: 1
name: patterns
timezone: UTC
languages: [en]
voice: v
start: code
nodes:
  code:
    type: collect
    prompt: Enter your code.
    into: code
    min_digits: 2
    max_digits: 40
    next: check
  check:
    type: condition
    when:
      - variable: code
        matches: "^(1+)+$"
        goto: ones
    else: ask_name
  ones:
    type: hangup
  ask_name:
    type: bot
    topic: name
    slots: [name]
    next: check_name
  check_name:
    type: condition
    when:
      - variable: name
        matches: "^(a|aa)+$"
        goto: ones
    else: other
  other:
    type: hangup
  operator:
    type: operator
"""


def test_a_catastrophic_pattern_on_long_caller_input_is_decided():
    """`^(1+)+$` on 39 ones and a 2 backtracks 2**39 times in Python's re (hours; 30 'a's
    take 92 s, docs/decisions/0002-linear-time-regex.md); RE2 decides it at once.  The same
    for a pattern on a spoken slot of 100,000 characters."""
    dp, problems = parse_dialplan(CATASTROPHIC, "p.yaml")
    assert problems == [], [str(p) for p in problems]

    state, _ = start(dp, UNKNOWN, OPEN)
    state, _ = drive(dp, state, Input("1" * 39 + "2"))
    assert state.variables["code"] == "1" * 39 + "2"
    assert state.node == "ask_name" and state.awaiting == "bot"
    state, _ = step(dp, state, BotFinished("done", "name", {"name": "a" * 100_000 + "!"}), OPEN)
    assert [s.node for s in state.path][-2:] == ["check_name", "other"]

    state, _ = start(dp, UNKNOWN, OPEN)
    state, _ = drive(dp, state, Input("1" * 40))
    assert [s.node for s in state.path][-2:] == ["check", "ones"]
    state, _ = start(dp, UNKNOWN, OPEN)
    state, _ = drive(dp, state, Input("12"),
                     BotFinished("done", "name", {"name": "a" * 100_001}))
    assert [s.node for s in state.path][-2:] == ["check_name", "ones"]
