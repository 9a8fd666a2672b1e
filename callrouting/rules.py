"""Routing rules as data (`config/routing.yaml` once loaded): ring times, the pool queue, rules
by intent, category and amount. Pure models: the file reader is `callrouting.config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from callrouting.model import Directory, Role
from hotline.problems import Marks, PathKey, Position, Problem

# Names that end up in Asterisk commands (Queue(), Dial(PJSIP/...)) stay within a
# conservative character set, so no escaping question ever arises.
ASTERISK_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RingSettings(_Strict):
    """Ring times and pool settings; `defaults` must give all, teams may override some."""

    manager_ring_seconds: int = Field(15, ge=1, le=600)
    backups_ring_seconds: int = Field(20, ge=1, le=600)
    also_ring_manager_with_backups: bool = True
    team_lead_ring_seconds: int = Field(20, ge=1, le=600)
    pool_queue: str = Field("hotline-pool", pattern=ASTERISK_NAME)
    # Per-attempt queue wait; None waits forever.  On timeout the executor puts the
    # caller back in the queue: a caller is never hung up on.
    pool_max_wait_seconds: int | None = Field(None, ge=10, le=86400)
    pool_priority: int = Field(0, ge=0, le=1000)
    vip_pool_priority: int = Field(10, ge=0, le=1000)

    @model_validator(mode="after")
    def _vip_first(self) -> RingSettings:
        if self.vip_pool_priority < self.pool_priority:
            raise ValueError("vip_pool_priority must not be lower than pool_priority")
        return self


class TeamOverrides(_Strict):
    """Per-team changes to `defaults`, applied for callers whose manager is in the team."""

    manager_ring_seconds: int | None = Field(None, ge=1, le=600)
    backups_ring_seconds: int | None = Field(None, ge=1, le=600)
    also_ring_manager_with_backups: bool | None = None
    team_lead_ring_seconds: int | None = Field(None, ge=1, le=600)
    pool_queue: str | None = Field(None, pattern=ASTERISK_NAME)
    pool_max_wait_seconds: int | None = Field(None, ge=10, le=86400)
    pool_priority: int | None = Field(None, ge=0, le=1000)
    vip_pool_priority: int | None = Field(None, ge=0, le=1000)


class RuleCondition(_Strict):
    """All given conditions must hold; an empty condition matches every call."""

    intent: str | list[str] | None = None
    category: str | list[str] | None = None
    amount_over: Decimal | None = Field(None, ge=0)
    amount_slot: str = "amount"
    vip: bool | None = None
    known_caller: bool | None = None

    def matches(
        self,
        *,
        intent: str | None,
        category: str | None,
        slots: Mapping[str, Any],
        vip: bool,
        known_caller: bool,
    ) -> bool:
        if self.intent is not None and intent not in _as_list(self.intent):
            return False
        if self.category is not None and category not in _as_list(self.category):
            return False
        if self.amount_over is not None:
            amount = parse_amount(slots.get(self.amount_slot))
            if amount is None or amount <= self.amount_over:
                return False
        if self.vip is not None and vip != self.vip:
            return False
        if self.known_caller is not None and known_caller != self.known_caller:
            return False
        return True


class RouteTo(_Strict):
    """Exactly one target: a team (its managers ring together), an operator, or a queue."""

    team: str | None = None
    operator: str | None = Field(None, pattern=ASTERISK_NAME, description="extension")
    queue: str | None = Field(None, pattern=ASTERISK_NAME)

    @model_validator(mode="after")
    def _exactly_one(self) -> RouteTo:
        given = [k for k in ("team", "operator", "queue") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'team', 'operator' or 'queue'")
        return self


class Rule(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,40}$")
    when: RuleCondition = Field(default_factory=RuleCondition)
    route_to: RouteTo
    ring_seconds: int | None = Field(None, ge=1, le=600)
    # After the rule's target does not answer: "standard" continues with the usual chain
    # (manager, backups, team lead, pool), "pool" goes straight to the pool.  A queue
    # target is final (the caller waits there), so `then` makes no sense with it.
    then: Literal["standard", "pool"] | None = None

    @model_validator(mode="after")
    def _then_only_for_ringing(self) -> Rule:
        if self.route_to.queue is not None and self.then is not None:
            raise ValueError("'then' cannot be used with a queue target (the queue is final)")
        return self

    @property
    def fallback(self) -> Literal["standard", "pool"]:
        return self.then or "standard"


class RoutingConfig(_Strict):
    defaults: RingSettings = Field(default_factory=RingSettings)
    teams: dict[str, TeamOverrides] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)

    _marks: Marks | None = PrivateAttr(default=None)

    def check(self) -> list[Problem]:
        """Problems across sections (duplicate rule names, team overrides vs defaults).

        Kept out of pydantic validators so each problem points at its own line.
        """
        problems: list[Problem] = []
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.name in seen:
                path: PathKey = ("rules", i, "name")
                problems.append(Problem(self._at(path), f"duplicate rule name {rule.name!r}", path))
            seen.add(rule.name)
        for name in self.teams:
            try:
                self.settings_for(name)
            except ValidationError as exc:
                path = ("teams", name)
                for err in exc.errors():
                    problems.append(Problem(self._key_at(path), str(err["msg"]), path))
        return problems

    def settings_for(self, team_name: str | None) -> RingSettings:
        """Defaults with the overrides of `team_name` (if any) applied."""
        overrides = self.teams.get(team_name) if team_name is not None else None
        if overrides is None:
            return self.defaults
        changes = overrides.model_dump(exclude_none=True)
        # Re-validate so a team override cannot make VIPs wait behind others.
        return RingSettings.model_validate({**self.defaults.model_dump(), **changes})

    def validate_against(self, directory: Directory) -> list[Problem]:
        """Problems with names this file takes from the directory (teams, extensions)."""
        team_names = {t.name for t in directory.teams.values()}
        problems: list[Problem] = []
        for name in self.teams:
            if name not in team_names:
                path: PathKey = ("teams", name)
                problems.append(Problem(self._key_at(path), f"unknown team {name!r}", path))
        for i, rule in enumerate(self.rules):
            target = rule.route_to
            if target.team is not None and target.team not in team_names:
                path = ("rules", i, "route_to", "team")
                problems.append(Problem(self._at(path), f"unknown team {target.team!r}", path))
            if target.team is not None and target.team in team_names:
                team = next(t for t in directory.teams.values() if t.name == target.team)
                if not any(
                    o.team_id == team.id and o.role is Role.MANAGER
                    for o in directory.operators.values()
                ):
                    path = ("rules", i, "route_to", "team")
                    problems.append(
                        Problem(self._at(path), f"team {target.team!r} has no managers", path)
                    )
            if target.operator is not None and directory.by_extension(target.operator) is None:
                path = ("rules", i, "route_to", "operator")
                problems.append(
                    Problem(
                        self._at(path),
                        f"no operator with extension {target.operator!r}",
                        path,
                    )
                )
        return problems

    def _at(self, path: PathKey) -> Position:
        return self._marks.at(path) if self._marks else Position("<routing config>", 1, 1)

    def _key_at(self, path: PathKey) -> Position:
        return self._marks.key_at(path) if self._marks else Position("<routing config>", 1, 1)


def parse_amount(value: Any) -> Decimal | None:
    """A money amount from a bot slot: 150000, 150000.5, "150 000", "150000,50"; else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value)) if value == value and abs(value) != float("inf") else None
    if isinstance(value, str):
        text = value.replace("\u00a0", "").replace(" ", "").replace(",", ".")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            return None
        return amount if amount.is_finite() else None
    return None


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


