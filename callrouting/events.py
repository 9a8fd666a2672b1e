"""Routing's port types: the request to put a caller through to a person, and its result."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Transfer:
    """Route to a person; `context` carries reason, intent, vip, variables, etc."""

    context: Mapping[str, Any]


@dataclass(frozen=True)
class TransferResult:
    outcome: Literal["answered", "failed"]
