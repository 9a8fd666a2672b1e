"""QA statistics as pure functions over per-call facts (no I/O, easy to check by hand).

Definitions (each rate is None when its denominator is zero):
- CSAT: share of scores 4 and 5 among rated calls.
- rating share: rated calls / calls an operator answered.
- bot containment: calls the bot handled that never went to routing and no operator answered
  / calls the bot handled.
- average speed of answer (ASA): mean seconds from the first ring attempt's start to the call's
  `answered_at` (routing stores the operator's answer there), over operator-answered calls.
- abandonment: calls offered to operators (at least one ring attempt) that no operator
  answered / calls offered.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class CallFacts:
    call_id: int
    started_at: datetime  # aware
    operator_id: int | None = None
    operator_name: str | None = None
    team_id: int | None = None
    team_name: str | None = None
    intent: str | None = None
    score: int | None = None
    bot_handled: bool = False
    offered: bool = False  # at least one ring attempt
    operator_answered: bool = False
    asa_seconds: float | None = None


@dataclass
class Figures:
    calls: int = 0
    operator_answered: int = 0
    rated: int = 0
    satisfied: int = 0  # scores 4 and 5
    score_sum: int = 0
    bot_handled: int = 0
    bot_contained: int = 0
    offered: int = 0
    abandoned: int = 0
    asa_sum: float = 0.0
    asa_count: int = 0
    scores: dict[int, int] = field(default_factory=lambda: {i: 0 for i in range(1, 6)})

    def add(self, f: CallFacts) -> None:
        self.calls += 1
        self.operator_answered += f.operator_answered
        if f.score is not None:
            self.rated += 1
            self.score_sum += f.score
            self.satisfied += f.score >= 4
            self.scores[f.score] = self.scores.get(f.score, 0) + 1
        if f.bot_handled:
            self.bot_handled += 1
            self.bot_contained += not f.offered and not f.operator_answered
        if f.offered:
            self.offered += 1
            self.abandoned += not f.operator_answered
        if f.operator_answered and f.asa_seconds is not None:
            self.asa_sum += f.asa_seconds
            self.asa_count += 1

    @property
    def csat(self) -> float | None:
        return _ratio(self.satisfied, self.rated)

    @property
    def rating_share(self) -> float | None:
        return _ratio(self.rated, self.operator_answered)

    @property
    def containment(self) -> float | None:
        return _ratio(self.bot_contained, self.bot_handled)

    @property
    def abandonment(self) -> float | None:
        return _ratio(self.abandoned, self.offered)

    @property
    def asa_seconds(self) -> float | None:
        return round(self.asa_sum / self.asa_count, 3) if self.asa_count else None

    @property
    def average_score(self) -> float | None:
        return round(self.score_sum / self.rated, 3) if self.rated else None


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def totals(facts: Iterable[CallFacts]) -> Figures:
    out = Figures()
    for f in facts:
        out.add(f)
    return out


def grouped(facts: Iterable[CallFacts], key: Callable[[CallFacts], Hashable]) -> dict[Hashable, Figures]:
    groups: dict[Hashable, Figures] = defaultdict(Figures)
    for f in facts:
        groups[key(f)].add(f)
    return dict(groups)


def local_day(tz: ZoneInfo) -> Callable[[CallFacts], date]:
    return lambda f: f.started_at.astimezone(tz).date()
