"""The voice bot's port types: what a caller of the bot (the IVR) hands it and gets back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class StartBot:
    topic: str | None
    language: str
    variables: Mapping[str, str]


@dataclass(frozen=True)
class BotFinished:
    outcome: Literal["done", "operator", "failed"]
    intent: str | None = None
    slots: Mapping[str, str] = field(default_factory=dict)
