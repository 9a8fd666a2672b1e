"""Reading Asterisk's CDR file (cdr_custom's CSV) incrementally."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.pbx.cdr import CdrLog

pytestmark = pytest.mark.unit

LINE = ('"u1.1","u1.1","PJSIP/test-caller-00000001","PJSIP/1003-00000002","+79990007788",'
        '""""" <+79990007788>","hotline-fallback","Queue","1796171634.666869","1796171634.671495",'
        '"1796171642.911105","ANSWERED","8","fallback"\n')


def test_records_are_read_once_and_a_half_written_line_waits(tmp_path: Path) -> None:
    path = tmp_path / "hotline-cdr.csv"
    log = CdrLog(path)
    assert log.read_new() == []  # no file yet
    path.write_text(LINE + LINE.replace("u1.1", "u2.2")[:40])
    first = log.read_new()
    assert [c.uniqueid for c in first] == ["u1.1"]
    c = first[0]
    assert c.talked and c.peer_extension == "1003" and c.hotline == "fallback" and c.billsec == 8
    assert c.clid == '"" <+79990007788>' and c.start is not None and c.end is not None and c.start < c.end
    with path.open("a") as f:
        f.write(LINE.replace("u1.1", "u2.2")[40:])
    assert [c.uniqueid for c in log.read_new()] == ["u2.2"]
    assert log.read_new() == []


def test_a_rotated_file_is_read_from_the_top_and_bad_lines_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "hotline-cdr.csv"
    path.write_text(LINE * 3)
    log = CdrLog(path)
    assert len(log.read_new()) == 3
    path.write_text('"only","three","fields"\n' + LINE.replace(',"ANSWERED"', ',"NO ANSWER"'))
    got = log.read_new()
    assert len(got) == 1 and not got[0].talked and got[0].disposition == "NO ANSWER"
    assert log.bad_lines == 1
