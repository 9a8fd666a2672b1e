"""Time to a human in the pure machine: the operator key from the first second (the greeting,
the language menu, every prompt before the rating) and no language question for callers
whose language is known."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hotline.paths import PROJECT_ROOT
from ivr.check import load_dialplan, parse_dialplan
from ivr.machine import (
    BotFinished,
    CallerInfo,
    GetDigits,
    Input,
    LookupResult,
    MachineError,
    Play,
    PromptFinished,
    PromptInterrupted,
    RecordPath,
    RememberLanguage,
    StartBot,
    Transfer,
    TransferResult,
    start,
    step,
)

PLAN = """\
version: 1
name: fast
timezone: Europe/Moscow
languages: [en, ru]
voice: v
start: lang
greeting:
  known: {en: "Hello {caller_name}.", ru: "Здравствуйте, {caller_name}."}
  unknown: {en: "Welcome.", ru: "Добро пожаловать."}
  rating_notice: {en: "You will rate the call.", ru: "Вы оцените звонок."}
rating:
  ask: {en: "Rate 1 to 5.", ru: "Оцените."}
  retry: {en: "1 to 5, please.", ru: "От 1 до 5."}
  thanks: {en: "Thanks.", ru: "Спасибо."}
nodes:
  lang:
    type: language
    prompt:
      - say: {en: "For English, press 1.", ru: "For English, press 1."}
      - say: {en: "Русский: 2.", ru: "Русский: 2."}
    options: {1: en, 2: ru}
    skip_when_known: true
    retries: 0
    on_no_input: route
    next: route
  route:
    type: condition
    when:
      - vip: true
        goto: vip
    else: main
  main:
    type: menu
    prompt: {en: "1 ticket, 2 bot, 3 news.", ru: "1 билет, 2 бот, 3 новости."}
    options: {1: ticket, 2: bot, 3: news}
    invalid_prompt: {en: "Not a choice.", ru: "Нет такого."}
  ticket:
    type: answer
    query: next_draw
    prompt: {en: "One moment.", ru: "Минуту."}
    next: main
  news:
    type: play
    prompt: {en: "News.", ru: "Новости."}
    next: main
  bot:
    type: bot
    prompt: {en: "Say operator at any time.", ru: "Скажите оператор."}
    next: main
  vip:
    type: operator
    prompt: {en: "Connecting you to your manager.", ru: "Соединяю с менеджером."}
    reason: vip
  operator:
    type: operator
    prompt: {en: "Connecting you to an operator.", ru: "Соединяю с оператором."}
    reason: caller_request
"""

NOW = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)
UNKNOWN = CallerInfo(number="+7900")
VIP = CallerInfo(number="+7901", name="Maria", known=True, vip=True)


def plan(text: str = PLAN):  # type: ignore[no-untyped-def]
    dp, problems = parse_dialplan(text, "t.yaml")
    assert problems == [], [str(p) for p in problems]
    return dp


def actions(effects):  # type: ignore[no-untyped-def]
    return [e for e in effects if not isinstance(e, RecordPath)]


def steps(state):  # type: ignore[no-untyped-def]
    return [(s.node, s.detail) for s in state.path]


# ---------------------------------------------------------------- the greeting


def test_greeting_is_the_first_part_of_the_language_menu():
    dp = plan()
    state, effects = start(dp, UNKNOWN, NOW)
    [ask] = actions(effects)
    assert isinstance(ask, GetDigits) and state.awaiting == "input"
    assert [(p.text, p.part) for p in ask.prompts] == [
        ("Welcome.", "greeting"), ("You will rate the call.", "greeting"),
        ("For English, press 1.", ""), ("Русский: 2.", ""),
    ]


def test_zero_during_the_greeting_goes_to_the_operator_at_once():
    dp = plan()
    state, _ = start(dp, UNKNOWN, NOW)
    state, effects = step(dp, state, Input("0"), NOW)
    assert state.node == "operator" and state.awaiting == "transfer"
    play, transfer = actions(effects)
    assert play.escape_digits == "0" and isinstance(transfer, Transfer)
    assert transfer.context["via"] == "operator_key"
    assert steps(state)[-2:] == [("lang", ""), ("operator", "operator_key")]


def test_language_key_during_the_greeting_chooses_it_and_is_remembered():
    dp = plan()
    state, _ = start(dp, UNKNOWN, NOW)
    state, effects = step(dp, state, Input("2"), NOW)
    assert state.language == state.chosen_language == "ru"
    assert RememberLanguage("ru") in effects
    [menu] = actions(effects)[1:]
    assert menu.prompts[0].text == "1 билет, 2 бот, 3 новости." and menu.prompts[0].part == ""


def test_silence_keeps_the_default_and_remembers_nothing():
    dp = plan()
    state, _ = start(dp, UNKNOWN, NOW)
    state, effects = step(dp, state, Input(None), NOW)
    assert state.node == "main" and state.chosen_language is None
    assert not any(isinstance(e, RememberLanguage) for e in effects)


def test_greeting_before_a_transfer_is_cut_short_and_the_planned_transfer_rings():
    """A VIP (known language, so no menu) goes straight to her manager: 0 in the greeting
    does not start the transfer over, it skips the rest of what she would hear."""
    dp = plan()
    caller = CallerInfo(number="+7901", name="Maria", known=True, vip=True, language="en",
                        language_source="directory")
    state, effects = start(dp, caller, NOW)
    greeting, connecting, transfer = actions(effects)
    assert [p.part for p in greeting.prompts] == ["greeting", "greeting"]
    assert greeting.escape_digits == "0" and connecting.escape_digits == "0"
    assert isinstance(transfer, Transfer) and state.node == "vip"
    state, effects = step(dp, state, PromptInterrupted("0"), NOW)
    [again] = actions(effects)
    assert again.context == {**transfer.context, "via": None, "reason": "vip"}
    assert steps(state)[-1] == ("vip", "operator key: prompt cut short")
    assert state.awaiting == "transfer"
    state, _ = step(dp, state, TransferResult("answered"), NOW)
    assert state.awaiting == "rating"


@pytest.mark.parametrize("key", ["1", "#"])
def test_only_the_operator_key_interrupts_a_prompt_before_a_transfer(key):
    dp = plan()
    caller = CallerInfo(known=True, vip=True, language="en")
    state, _ = start(dp, caller, NOW)
    with pytest.raises(MachineError, match="only the operator key"):
        step(dp, state, PromptInterrupted(key), NOW)


# ---------------------------------------------------------------- every other prompt


def at_main(dp):  # type: ignore[no-untyped-def]
    state, _ = start(dp, UNKNOWN, NOW)
    state, _ = step(dp, state, Input("1"), NOW)
    assert state.node == "main"
    return state


def test_zero_during_one_moment_skips_the_lookup():
    dp = plan()
    state, effects = step(dp, at_main(dp), Input("1"), NOW)
    assert state.awaiting == "lookup" and actions(effects)[0].escape_digits == "0"
    state, _ = step(dp, state, PromptInterrupted("0"), NOW)
    assert state.node == "operator" and steps(state)[-1] == ("operator", "operator_key")


def test_zero_during_the_answer_goes_to_the_operator():
    dp = plan()
    state, _ = step(dp, at_main(dp), Input("1"), NOW)
    state, effects = step(dp, state, LookupResult("The next draw is on Friday."), NOW)
    [answer] = actions(effects)
    assert answer.escape_digits == "0" and state.awaiting == "prompt"
    state, _ = step(dp, state, PromptFinished("0"), NOW)
    assert state.node == "operator"


def test_zero_during_a_play_node_that_is_not_interruptible():
    dp = plan()
    state, effects = step(dp, at_main(dp), Input("3"), NOW)
    [news] = actions(effects)
    assert news.escape_digits == "0"  # other keys do not skip it; 0 still reaches a person
    state, _ = step(dp, state, PromptFinished("0"), NOW)
    assert state.node == "operator"


def test_zero_during_the_bots_introduction_and_saying_operator_to_the_bot():
    dp = plan()
    state, effects = step(dp, at_main(dp), Input("2"), NOW)
    intro, bot = actions(effects)
    assert intro.escape_digits == "0" and isinstance(bot, StartBot)
    cut, _ = step(dp, state, PromptInterrupted("0"), NOW)
    assert cut.node == "operator"
    said, _ = step(dp, state, BotFinished("operator", intent="operator"), NOW)
    assert said.node == "operator" and steps(said)[-1] == ("operator", "bot")


def test_a_retry_prompt_is_part_of_the_menu():
    dp = plan()
    state, effects = step(dp, at_main(dp), Input("7"), NOW)
    [ask] = actions(effects)
    assert [p.text for p in ask.prompts] == ["Not a choice.", "1 ticket, 2 bot, 3 news."]


def test_every_prompt_before_the_rating_has_the_operator_key():
    """Walk the demo dialplan along each menu option: every Play carries 0."""
    dp = load_dialplan(PROJECT_ROOT / "dialplan" / "hotline.yaml")
    seen = 0
    for caller in (UNKNOWN, VIP):
        for key in "12345":
            state, effects = start(dp, caller, NOW)
            events = [Input(None), Input(key), Input("123456#"), LookupResult("an answer")]
            for event in events:
                for e in actions(effects):
                    if isinstance(e, Play):
                        seen += 1
                        assert dp.operator_key in e.escape_digits, e
                if state.finished or state.awaiting not in ("input", "lookup", "prompt"):
                    break
                if state.awaiting == "prompt":
                    event = PromptFinished()
                if state.awaiting == "lookup" and not isinstance(event, LookupResult):
                    event = LookupResult("an answer")
                state, effects = step(dp, state, event, NOW)
    assert seen >= 10  # greetings, answers, "one moment", "connecting", the goodbye


# ---------------------------------------------------------------- the language question


@pytest.mark.parametrize(
    "language, source, expected",
    [("ru", "directory", "ru"), ("en-GB", "directory", "en"), ("ru", "last_call", "ru")],
)
def test_known_language_skips_the_language_menu(language, source, expected):
    dp = plan()
    caller = CallerInfo(number="+7902", name="Anna", known=True, language=language,
                        language_source=source)
    state, effects = start(dp, caller, NOW)
    assert state.language == expected and state.node == "main"
    assert steps(state)[1:4] == [
        ("lang", ""), ("lang", f"language {expected} known ({source}), not asked"),
        ("route", f"language {expected}"),
    ]
    [menu] = actions(effects)  # the greeting, then the main menu: one short GetDigits
    assert [p.part for p in menu.prompts] == ["greeting", "greeting", ""]
    assert menu.prompts[0].text == ("Hello Anna." if expected == "en" else "Здравствуйте, Anna.")


@pytest.mark.parametrize("language", [None, "de"])
def test_unknown_or_unoffered_language_is_asked(language):
    dp = plan()
    state, _ = start(dp, CallerInfo(known=True, name="Anna", language=language), NOW)
    assert state.node == "lang" and state.awaiting == "input"


def test_a_caller_not_in_the_directory_is_asked_whatever_the_language():
    dp = plan()
    state, _ = start(dp, CallerInfo(language="ru"), NOW)  # e.g. `simulate --language ru`
    assert state.node == "lang" and state.language == "ru"


def test_without_skip_when_known_everyone_is_asked():
    dp = plan(PLAN.replace("    skip_when_known: true\n", ""))
    state, _ = start(dp, CallerInfo(known=True, name="Anna", language="ru"), NOW)
    assert state.node == "lang" and state.language == "ru"  # asked, in their language
