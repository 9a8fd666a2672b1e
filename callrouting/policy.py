"""The routing policy: who rings, in which order, for how long.  Pure: no I/O, no clock.

`plan_call` turns what is known about a call (caller, directory, presence, history,
what the IVR/bot learned, the routing config, `now`) into a `RingPlan`: ordered
`RingStep`s, each ringing a set of operators at once, ending with the pool queue.
A caller is never hung up on; every plan ends in a queue step.

The dial executor (an adapter) walks the plan with `next_step`, which re-checks
presence between steps (15-20 s pass per step) and refines the QA review reason from
what happened (a manager who returned BUSY on Dial is "busy", not "no answer").  The
executor keeps an `AttemptRecord` per step it carried out; `review_reason(attempts)`
says whether the call must be flagged for QA.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from callrouting.model import Caller, Directory, Operator, Presence, Role
from callrouting.rules import RingSettings, RoutingConfig, Rule

PERSONAL_MANAGER = "personal_manager"
LAST_MANAGER = "last_manager"
BACKUPS = "backups"
TEAM_LEAD = "team_lead"
POOL = "pool"
RULE_PREFIX = "rule:"
_MANAGER_REASONS = frozenset({PERSONAL_MANAGER, LAST_MANAGER})

# One person alone (manager, team lead, a rule's operator): if the phone is busy or
# already ringing with another call, ringing it only wastes the caller's time.
SKIP_SINGLE = frozenset({Presence.IN_USE, Presence.RINGING, Presence.UNAVAILABLE})
# A group ringing together (backups, a team): a phone already ringing for another call
# may still pick this one up, and the others ring anyway.
SKIP_GROUP = frozenset({Presence.IN_USE, Presence.UNAVAILABLE})


class StepKind(enum.StrEnum):
    RING = "ring"  # Dial the targets at once for `timeout` seconds
    QUEUE = "queue"  # Queue(`queue`) with `priority`; final, the caller waits there


class ReviewReason(enum.StrEnum):
    """Why a call that escalated past the manager's circle goes to QA review."""

    MANAGER_BUSY = "manager_busy"
    MANAGER_UNAVAILABLE = "manager_unavailable"
    NO_ANSWER = "no_answer"  # the manager (and backups) rang and nobody answered


class Outcome(enum.StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    UNAVAILABLE = "unavailable"  # CHANUNAVAIL / CONGESTION: phone not reachable
    CALLER_HUNG_UP = "caller_hung_up"
    CALLBACK = "callback"  # the caller left the queue to be called back (a callbacks row)

    @classmethod
    def from_dialstatus(cls, status: str) -> Outcome:
        """Map Asterisk's DIALSTATUS after Dial()."""
        return _DIALSTATUS.get(status.strip().upper(), cls.NO_ANSWER)

    @classmethod
    def from_queuestatus(cls, status: str) -> Outcome:
        """Map Asterisk's QUEUESTATUS after Queue() returned (it was not answered)."""
        return _QUEUESTATUS.get(status.strip().upper(), cls.NO_ANSWER)


_DIALSTATUS = {
    "ANSWER": Outcome.ANSWERED,
    "NOANSWER": Outcome.NO_ANSWER,
    "BUSY": Outcome.BUSY,
    "CHANUNAVAIL": Outcome.UNAVAILABLE,
    "CONGESTION": Outcome.UNAVAILABLE,
    "DONTCALL": Outcome.UNAVAILABLE,
    "TORTURE": Outcome.UNAVAILABLE,
    "INVALIDARGS": Outcome.UNAVAILABLE,
    "CANCEL": Outcome.CALLER_HUNG_UP,
}
_QUEUESTATUS = {
    "TIMEOUT": Outcome.NO_ANSWER,
    "FULL": Outcome.UNAVAILABLE,
    "JOINEMPTY": Outcome.UNAVAILABLE,
    "LEAVEEMPTY": Outcome.UNAVAILABLE,
    "JOINUNAVAIL": Outcome.UNAVAILABLE,
    "LEAVEUNAVAIL": Outcome.UNAVAILABLE,
    "CONTINUE": Outcome.NO_ANSWER,
}


@dataclass(frozen=True)
class CallContext:
    """What the IVR or the bot learned before the caller asked for a person."""

    intent: str | None = None
    category: str | None = None
    slots: Mapping[str, Any] = field(default_factory=dict)
    topic: str | None = None  # human label for the operator's display, e.g. "ticket check"


@dataclass(frozen=True)
class CallHistory:
    """Facts from earlier calls, looked up by the adapter."""

    last_manager_id: int | None = None


@dataclass(frozen=True)
class RingTarget:
    operator_id: int
    extension: str


@dataclass(frozen=True)
class RingStep:
    index: int
    kind: StepKind
    reason: str  # personal_manager, last_manager, backups, team_lead, pool, rule:<name>
    targets: tuple[RingTarget, ...] = ()
    # RING: ring seconds.  QUEUE: max wait per attempt, None = no limit.
    timeout: int | None = None
    queue: str | None = None
    priority: int = 0
    flag_for_review: ReviewReason | None = None
    # Targets in these states are dropped when presence is re-checked.
    skip_when: frozenset[Presence] = frozenset()

    @property
    def extensions(self) -> tuple[str, ...]:
        return tuple(t.extension for t in self.targets)

    @property
    def operator_ids(self) -> tuple[int, ...]:
        return tuple(t.operator_id for t in self.targets)


@dataclass(frozen=True)
class RingPlan:
    steps: tuple[RingStep, ...]
    display_name: str
    caller_id: int | None
    created_at: datetime
    matched_rule: str | None = None
    notes: tuple[str, ...] = ()  # why steps or people were left out, for logs and QA

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(s.reason for s in self.steps)


@dataclass(frozen=True)
class AttemptRecord:
    """One step the executor carried out, and how it ended."""

    step_index: int
    reason: str
    outcome: Outcome
    rang: tuple[int, ...] = ()  # operator ids
    answered_by: int | None = None
    flag_for_review: ReviewReason | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @classmethod
    def for_step(
        cls,
        step: RingStep,
        outcome: Outcome,
        *,
        answered_by: int | None = None,
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
    ) -> AttemptRecord:
        return cls(
            step_index=step.index,
            reason=step.reason,
            outcome=outcome,
            rang=step.operator_ids,
            answered_by=answered_by,
            flag_for_review=step.flag_for_review,
            started_at=started_at,
            ended_at=ended_at,
        )


def plan_call(
    *,
    caller: Caller | None,
    directory: Directory,
    presence: Mapping[int, Presence],
    history: CallHistory,
    context: CallContext,
    config: RoutingConfig,
    now: datetime,
) -> RingPlan:
    """Decide the ring plan for one call.  Never raises on inconsistent data.

    An operator missing from `presence` counts as available: the presence tracker
    reports unknown phones as UNAVAILABLE itself, so a missing key means no data at
    all, and a Dial to an unregistered phone fails at once instead of losing time.
    """
    builder = _PlanBuilder(directory, presence)
    vip = caller.vip if caller else False
    manager, manager_reason = _chain_manager(caller, directory, history, builder)
    settings = config.settings_for(_team_name(directory, manager))

    rule = _matching_rule(config, caller, context)
    if rule is not None:
        finished = builder.add_rule(rule, config, settings, vip)
        if finished:
            return builder.build(caller, context, now, rule.name)

    if manager is not None and manager_reason is not None:
        builder.add_manager_chain(manager, manager_reason, settings)
    builder.add_pool(settings, vip)
    return builder.build(caller, context, now, rule.name if rule else None)


def next_step(
    plan: RingPlan,
    attempts: Sequence[AttemptRecord] = (),
    presence: Mapping[int, Presence] | None = None,
) -> RingStep | None:
    """The step to carry out next, or None when the call is answered or the caller left.

    With fresh `presence`, targets that became busy or unavailable are dropped and a
    step left empty is skipped (a skipped flagged step passes its flag on).  After a
    queue step that was not answered the same queue step comes again: the caller goes
    back into the queue, never hung up on.
    """
    if any(a.outcome in (Outcome.ANSWERED, Outcome.CALLER_HUNG_UP, Outcome.CALLBACK)
           for a in attempts):
        return None
    if attempts:
        last = plan.steps[attempts[-1].step_index]
        if last.kind is StepKind.QUEUE:
            return last
        start = last.index + 1
    else:
        start = 0

    observed = _review_from_attempts(attempts)
    carried: ReviewReason | None = None
    for step in plan.steps[start:]:
        if step.kind is StepKind.RING and presence is not None:
            targets = tuple(
                t for t in step.targets if _presence(presence, t.operator_id) not in step.skip_when
            )
            if not targets:
                if step.reason in _MANAGER_REASONS and observed is None:
                    observed = _review_for_presence(
                        _presence(presence, step.targets[0].operator_id)
                    )
                carried = carried or step.flag_for_review
                continue
            step = replace(step, targets=targets)
        flag = step.flag_for_review or carried
        if flag is ReviewReason.NO_ANSWER and observed is not None:
            flag = observed
        return replace(step, flag_for_review=flag)
    return None


def review_reason(attempts: Sequence[AttemptRecord]) -> ReviewReason | None:
    """The QA review flag for the call: set once a flagged step was carried out."""
    return next((a.flag_for_review for a in attempts if a.flag_for_review), None)


DISPLAY_NAME_MAX = 40
_DISPLAY_PUNCTUATION = frozenset(" -.'#+()/")


def display_name(
    caller: Caller | None, context: CallContext, max_length: int = DISPLAY_NAME_MAX
) -> str:
    """Caller name for the operator's phone, e.g. "VIP Ivanova - ticket check".

    Keeps letters (any script), digits, spaces and a little punctuation; quotes,
    commas, semicolons, backslashes and control or direction-override characters go.
    """
    if caller is None:
        who = "Unknown"
    else:
        who = _clean(caller.name) or "Caller"
        if caller.vip:
            who = f"VIP {who}"
    topic = context.topic or context.category or (context.intent or "").replace("_", " ")
    topic = _clean(topic)
    text = f"{who} - {topic}" if topic else who
    if len(text) > max_length:
        text = text[:max_length].rstrip(" -")
    return text


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    kept = (
        ch if unicodedata.category(ch)[0] in "LNM" or ch in _DISPLAY_PUNCTUATION else " "
        for ch in text
    )
    return " ".join("".join(kept).split())


def _presence(presence: Mapping[int, Presence], operator_id: int) -> Presence:
    return presence.get(operator_id, Presence.AVAILABLE)


def _review_for_presence(state: Presence) -> ReviewReason:
    if state is Presence.UNAVAILABLE:
        return ReviewReason.MANAGER_UNAVAILABLE
    return ReviewReason.MANAGER_BUSY


def _review_from_attempts(attempts: Sequence[AttemptRecord]) -> ReviewReason | None:
    for a in attempts:
        if a.reason in _MANAGER_REASONS:
            if a.outcome is Outcome.BUSY:
                return ReviewReason.MANAGER_BUSY
            if a.outcome is Outcome.UNAVAILABLE:
                return ReviewReason.MANAGER_UNAVAILABLE
    return None


def _team_name(directory: Directory, operator: Operator | None) -> str | None:
    if operator is None or operator.team_id is None:
        return None
    team = directory.teams.get(operator.team_id)
    return team.name if team else None


def _chain_manager(
    caller: Caller | None, directory: Directory, history: CallHistory, builder: _PlanBuilder
) -> tuple[Operator | None, str | None]:
    """Whose circle the call starts from: personal manager, else the last one talked to."""
    if caller is None:
        return None, None  # unknown callers go to the pool
    if caller.personal_manager_id is not None:
        manager = directory.operators.get(caller.personal_manager_id)
        if manager is not None:
            return manager, PERSONAL_MANAGER
        builder.note(f"personal manager #{caller.personal_manager_id} not in the directory")
    if history.last_manager_id is not None:
        manager = directory.operators.get(history.last_manager_id)
        if manager is not None:
            return manager, LAST_MANAGER
        builder.note(f"last manager #{history.last_manager_id} not in the directory")
    return None, None


def _matching_rule(
    config: RoutingConfig, caller: Caller | None, context: CallContext
) -> Rule | None:
    for rule in config.rules:
        if rule.when.matches(
            intent=context.intent,
            category=context.category,
            slots=context.slots,
            vip=bool(caller and caller.vip),
            known_caller=caller is not None,
        ):
            return rule
    return None


class _PlanBuilder:
    def __init__(self, directory: Directory, presence: Mapping[int, Presence]):
        self.directory = directory
        self.presence = presence
        self.steps: list[RingStep] = []
        self.notes: list[str] = []
        self.pending_flag: ReviewReason | None = None

    def note(self, text: str) -> None:
        self.notes.append(text)

    def state(self, op: Operator) -> Presence:
        return _presence(self.presence, op.id)

    def ring(
        self,
        reason: str,
        operators: Sequence[Operator],
        seconds: int,
        skip_when: frozenset[Presence],
        flag: ReviewReason | None = None,
    ) -> None:
        self.steps.append(
            RingStep(
                index=len(self.steps),
                kind=StepKind.RING,
                reason=reason,
                targets=tuple(RingTarget(o.id, o.extension) for o in operators),
                timeout=seconds,
                flag_for_review=flag,
                skip_when=skip_when,
            )
        )

    def queue(self, reason: str, name: str, settings: RingSettings, vip: bool) -> None:
        self.steps.append(
            RingStep(
                index=len(self.steps),
                kind=StepKind.QUEUE,
                reason=reason,
                timeout=settings.pool_max_wait_seconds,
                queue=name,
                priority=settings.vip_pool_priority if vip else settings.pool_priority,
                flag_for_review=self.pending_flag,
            )
        )
        self.pending_flag = None

    def available(self, operators: Sequence[Operator], skip: frozenset[Presence]) -> list[Operator]:
        kept = []
        for op in operators:
            if self.state(op) in skip:
                self.note(f"{op.extension} ({op.name}) skipped: {self.state(op)}")
            else:
                kept.append(op)
        return kept

    def add_rule(
        self, rule: Rule, config: RoutingConfig, settings: RingSettings, vip: bool
    ) -> bool:
        """Add the rule's step; True if the plan is complete (queue target or `then: pool`)."""
        reason = RULE_PREFIX + rule.name
        target = rule.route_to
        if target.queue is not None:
            self.queue(reason, target.queue, settings, vip)
            return True
        if target.team is not None:
            team = next((t for t in self.directory.teams.values() if t.name == target.team), None)
            if team is None:
                self.note(f"rule {rule.name}: no team {target.team!r} in the directory")
            else:
                members = [
                    o
                    for o in self.directory.operators.values()
                    if o.team_id == team.id and o.role is Role.MANAGER
                ]
                seconds = rule.ring_seconds or config.settings_for(team.name).backups_ring_seconds
                self._ring_if_any(reason, self.available(members, SKIP_GROUP), seconds, SKIP_GROUP)
        elif target.operator is not None:
            op = self.directory.by_extension(target.operator)
            if op is None:
                self.note(f"rule {rule.name}: no operator with extension {target.operator!r}")
            else:
                seconds = rule.ring_seconds or settings.manager_ring_seconds
                self._ring_if_any(reason, self.available([op], SKIP_SINGLE), seconds, SKIP_SINGLE)
        if rule.fallback == "pool":
            self.queue(POOL, settings.pool_queue, settings, vip)
            return True
        return False

    def _ring_if_any(
        self, reason: str, operators: list[Operator], seconds: int, skip: frozenset[Presence]
    ) -> None:
        if operators:
            self.ring(reason, operators, seconds, skip)
        else:
            self.note(f"{reason}: nobody can take the call, step dropped")

    def add_manager_chain(self, manager: Operator, reason: str, settings: RingSettings) -> None:
        review: ReviewReason | None = None
        manager_state = self.state(manager)
        manager_rings = manager_state not in SKIP_SINGLE
        if manager_rings:
            self.ring(reason, [manager], settings.manager_ring_seconds, SKIP_SINGLE)
        else:
            self.note(f"{reason} {manager.extension} ({manager.name}) skipped: {manager_state}")
            review = _review_for_presence(manager_state)

        backups = self._backups_of(manager)
        if backups:
            extra = [manager] if manager_rings and settings.also_ring_manager_with_backups else []
            self.ring(BACKUPS, extra + backups, settings.backups_ring_seconds, SKIP_GROUP)
        elif manager.backup_ids:
            self.note("backups: nobody can take the call, step dropped")

        review = review or ReviewReason.NO_ANSWER
        lead = self._lead_of(manager)
        if lead is not None:
            self.ring(TEAM_LEAD, [lead], settings.team_lead_ring_seconds, SKIP_SINGLE, flag=review)
        else:
            # Nobody above the manager can be rung: the pool step carries the flag so
            # QA still sees every call that escaped the manager's circle.
            self.pending_flag = review

    def _backups_of(self, manager: Operator) -> list[Operator]:
        seen = {manager.id}
        backups = []
        for backup_id in manager.backup_ids:
            op = self.directory.operators.get(backup_id)
            if op is None:
                self.note(f"backup #{backup_id} of {manager.extension} not in the directory")
            elif op.id not in seen:
                seen.add(op.id)
                backups.append(op)
        return self.available(backups, SKIP_GROUP)

    def _lead_of(self, manager: Operator) -> Operator | None:
        team = self.directory.teams.get(manager.team_id) if manager.team_id is not None else None
        if team is None or team.lead_id is None:
            self.note(f"team lead: {manager.extension} has no team lead")
            return None
        if team.lead_id == manager.id:
            self.note(f"team lead: {manager.extension} is the team lead")
            return None
        lead = self.directory.operators.get(team.lead_id)
        if lead is None:
            self.note(f"team lead #{team.lead_id} not in the directory")
            return None
        kept = self.available([lead], SKIP_SINGLE)
        return kept[0] if kept else None

    def add_pool(self, settings: RingSettings, vip: bool) -> None:
        self.queue(POOL, settings.pool_queue, settings, vip)

    def build(
        self, caller: Caller | None, context: CallContext, now: datetime, rule: str | None
    ) -> RingPlan:
        return RingPlan(
            steps=tuple(self.steps),
            display_name=display_name(caller, context),
            caller_id=caller.id if caller else None,
            created_at=now,
            matched_rule=rule,
            notes=tuple(self.notes),
        )
