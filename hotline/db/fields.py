"""Column types for text that comes from outside (a caller, Asterisk) and must never cost a row.

PostgreSQL refuses a value longer than its VARCHAR (SQLite stores anything); a caller ID of
300 characters would then fail the whole INSERT and lose the call. `ClippedString(n)` is a
VARCHAR(n) in the schema (the migrations are unchanged by it) whose values are cut to n
characters on the way in, with one warning naming the column.

Use it only for values that are stored for reading, never for keys looked up by equality:
a clipped lookup value could match another row. Unique ids get wide enough columns instead.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["ClippedString", "clip"]

log = structlog.get_logger(__name__)


def clip(value: str | None, length: int, what: str = "value") -> str | None:
    """`value` cut to `length` characters (VARCHAR(n) counts characters, not bytes)."""
    if value is None or len(value) <= length:
        return value
    log.warning("db.value_clipped", column=what, length=len(value), limit=length)
    return value[:length]


class ClippedString(TypeDecorator[str]):
    """VARCHAR(length) that cuts longer values to fit instead of failing the statement."""

    impl = String
    cache_ok = True

    def __init__(self, length: int, what: str = "value") -> None:
        super().__init__(length)
        self.length = length
        self.what = what

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return clip(value, self.length, self.what) if isinstance(value, str) else value
