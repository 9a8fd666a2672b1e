"""Task success of one bot call, from what is stored with it: did the caller get what they
called for within `max_turns` of their own turns? Pure: no I/O, no clock.

A call is judged against the caller's goal:
- an answer (`Goal("next_draw")`, optionally `mentions=("Russian Lotto",)`): the bot gave the
  answer to that question (a bot transcript entry tagged with that intent, see
  `voicebot.dialog.TranscriptEntry`) after at most `max_turns` caller turns, and before any
  transfer. A follow-up question ("Which game?") or a clarifying question ("Do you want ...
  or ...?") is no answer: the caller's reply to it is one more turn. An answer to another
  question before the right one does not fail the call by itself but costs its turns; an answer
  that leaves out what the caller named (`mentions`, e.g. the game) does not count.
- an operator (`Goal("operator")`): the bot handed the call on for routing (the stored
  outcome "operator", with its transfer tagged in the transcript) after at most `max_turns`
  caller turns, whatever the reason (asked, key 0, the bot's own offer accepted).

The input is the call row's `bot_transcript` (list of {"speaker", "text", "intent"?}) and the
bot part of its context ({"outcome", "reason", ...}), as `voicebot.gateway` stores them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_MAX_TURNS", "Goal", "TaskResult", "task_success"]

DEFAULT_MAX_TURNS = 4
OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Goal:
    intent: str  # the question the caller wants answered, or "operator"
    mentions: tuple[str, ...] = ()  # words the right answer must contain (case-insensitive)


@dataclass(frozen=True, slots=True)
class TaskResult:
    success: bool
    turns: int  # caller turns up to the goal (or in the whole call when it was not reached)
    why: str  # "answered", "transferred", or what went wrong
    wrong_answers: int = 0  # answers to other questions given before the goal

    def __bool__(self) -> bool:
        return self.success


def _mentions_all(text: str, words: Sequence[str]) -> bool:
    low = text.lower()
    return all(w.lower() in low for w in words)


def task_success(
    goal: Goal,
    transcript: Sequence[Mapping[str, Any]],
    bot: Mapping[str, Any] | None,
    max_turns: int = DEFAULT_MAX_TURNS,
) -> TaskResult:
    """Whether the stored call reached `goal` within `max_turns` caller turns."""
    turns = 0
    wrong = 0
    answered: dict[str, str] = {}  # intent -> the answer's text so far (one answer, several entries)
    previous: str | None = None
    outcome = (bot or {}).get("outcome")
    for entry in transcript:
        speaker, intent = entry.get("speaker"), entry.get("intent")
        if speaker == "caller":
            turns += 1
            previous = None
            continue
        if speaker != "bot" or not intent:
            previous = None
            continue
        if intent == OPERATOR:  # the transfer announcement
            if goal.intent != OPERATOR:
                return TaskResult(False, turns, "transferred before the answer", wrong)
            if outcome != "operator":
                return TaskResult(False, turns, f"transfer said but outcome {outcome!r}", wrong)
            if turns > max_turns:
                return TaskResult(False, turns, f"transferred after {turns} turns", wrong)
            return TaskResult(True, turns, "transferred", wrong)
        # an answer (its sentences are consecutive entries with the same tag)
        if previous != intent and intent != goal.intent:
            wrong += 1
        text = (answered.get(intent, "") + " " if previous == intent else "") + str(entry["text"])
        answered[intent] = text
        previous = intent
        if intent == goal.intent and _mentions_all(text, goal.mentions):
            if turns > max_turns:
                return TaskResult(False, turns, f"answered after {turns} turns", wrong)
            return TaskResult(True, turns, "answered", wrong)
    if goal.intent == OPERATOR:
        why = "no transfer" if outcome != "operator" else "outcome operator but no transfer said"
    elif goal.intent in answered:
        why = f"answered without {', '.join(goal.mentions)}"
    else:
        why = f"not answered (outcome {outcome!r}, answered {sorted(answered) or 'nothing'})"
    return TaskResult(False, turns, why, wrong)
