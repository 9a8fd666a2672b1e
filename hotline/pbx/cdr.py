"""Asterisk's own call records (CDR), as cdr_custom writes them for this instance.

Asterisk writes a CDR whether or not the service is up, so they are what the service trusts
about calls it could not follow: the ones a crash or a drain left open, and the ones
Asterisk's fallback put into the operator pool while the service was down or frozen.
`asterisk/templates/cdr_custom.conf.j2` writes the columns of `FIELDS`, times as epoch
seconds; one call (party A's uniqueid) may have several CDRs, one per bridge it was in.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

FIELDS = ("uniqueid", "linkedid", "channel", "dstchannel", "src", "clid", "dcontext", "lastapp",
          "start", "answer", "end", "disposition", "billsec", "hotline")
# what extensions.conf puts into CDR(hotline)
SERVICE, FALLBACK = "service", "fallback"


def _time(value: str) -> datetime | None:
    try:
        t = float(value)
    except ValueError:
        return None
    return datetime.fromtimestamp(t, UTC) if t > 0 else None


@dataclass(frozen=True)
class Cdr:
    uniqueid: str
    linkedid: str
    channel: str
    dstchannel: str
    src: str
    clid: str
    dcontext: str
    lastapp: str
    start: datetime | None
    answer: datetime | None
    end: datetime | None
    disposition: str  # ANSWERED, NO ANSWER, BUSY, FAILED, CONGESTION
    billsec: int
    hotline: str  # "service", "fallback" or "" (a call that is not the hotline's)

    @classmethod
    def from_row(cls, row: list[str]) -> Cdr | None:
        if len(row) != len(FIELDS) or not row[0]:
            return None
        v = dict(zip(FIELDS, row, strict=True))
        try:
            billsec = int(v["billsec"] or 0)
        except ValueError:
            billsec = 0
        return cls(
            uniqueid=v["uniqueid"], linkedid=v["linkedid"], channel=v["channel"],
            dstchannel=v["dstchannel"], src=v["src"], clid=v["clid"], dcontext=v["dcontext"],
            lastapp=v["lastapp"], start=_time(v["start"]), answer=_time(v["answer"]),
            end=_time(v["end"]), disposition=v["disposition"].upper(), billsec=billsec,
            hotline=v["hotline"],
        )

    @property
    def peer_extension(self) -> str | None:
        """The operator's extension if the other party was a PJSIP endpoint ("PJSIP/1001-00a")."""
        if not self.dstchannel.startswith("PJSIP/"):
            return None
        rest = self.dstchannel.split("/", 1)[1]
        return rest.rsplit("-", 1)[0] if "-" in rest else rest

    @property
    def talked(self) -> bool:
        """The caller was bridged with another party who answered."""
        return self.disposition == "ANSWERED" and bool(self.dstchannel)


class CdrLog:
    """Reads the CDR file incrementally: each `read_new` returns the records written since the
    last call (complete lines only; a file that shrank was rotated and is read from the top)."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.bad_lines = 0

    def read_new(self) -> list[Cdr]:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        if size < self.offset:
            self.offset = 0
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read(size - self.offset)
        end = data.rfind(b"\n") + 1  # a line Asterisk is still writing waits for the next read
        self.offset += end
        out: list[Cdr] = []
        for row in csv.reader(io.StringIO(data[:end].decode("utf-8", "replace"))):
            if not row:
                continue
            cdr = Cdr.from_row(row)
            if cdr is None:
                self.bad_lines += 1
            else:
                out.append(cdr)
        return out
