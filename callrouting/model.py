"""Directory and presence values shared by the routing policy, the presence tracker and adapters.

Plain frozen dataclasses: the pure core takes these, never ORM rows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Presence(enum.StrEnum):
    """What an operator's phone can do right now, as seen through AMI."""

    AVAILABLE = "available"  # registered and idle
    RINGING = "ringing"  # a call is ringing the phone
    IN_USE = "in_use"  # in a call (or on hold)
    UNAVAILABLE = "unavailable"  # not registered / unreachable / unknown


class Role(enum.StrEnum):
    MANAGER = "manager"
    TEAM_LEAD = "team_lead"


@dataclass(frozen=True)
class Operator:
    id: int
    name: str
    extension: str  # SIP endpoint name, e.g. "1001"
    role: Role
    team_id: int | None
    backup_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Team:
    id: int
    name: str
    lead_id: int | None


@dataclass(frozen=True)
class Caller:
    """A known caller from the directory (number in E.164)."""

    id: int
    number: str
    name: str
    vip: bool = False
    personal_manager_id: int | None = None


@dataclass(frozen=True)
class Directory:
    operators: dict[int, Operator] = field(default_factory=dict)
    teams: dict[int, Team] = field(default_factory=dict)

    def by_extension(self, extension: str) -> Operator | None:
        return next((o for o in self.operators.values() if o.extension == extension), None)
