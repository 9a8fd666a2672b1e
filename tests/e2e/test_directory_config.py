"""`write_directory_config` rewrites only the directory's files, completely or not at all, and
refuses what the directory's rules refuse; the longest name they allow reaches Asterisk whole."""

from __future__ import annotations

import shutil
import stat
from collections.abc import Iterator

import pytest

from hotline.app.settings import Settings
from hotline.pbx.asterisk import AsteriskError, AsteriskInstance, Operator

ANNA = Operator("1001", "Anna Petrova", "demo-pass-1001")
NEW = Operator("1010", "New Operator", "new-operator-pass")


@pytest.fixture
def instance(asterisk: AsteriskInstance, e2e_settings: Settings) -> Iterator[AsteriskInstance]:
    """A second, never started instance in the e2e root (the running one is left alone)."""
    a = e2e_settings.asterisk.model_copy(update={"instance": f"{e2e_settings.asterisk.instance}-render"})
    inst = AsteriskInstance(e2e_settings.model_copy(update={"asterisk": a}))
    inst.write_config([ANNA], "render-test-secret", "render-test-agi-key")
    yield inst
    shutil.rmtree(inst.dir, ignore_errors=True)


def test_only_pjsip_and_queues_change(instance: AsteriskInstance) -> None:
    etc = instance.dir / "etc"
    before = {p.name: p.read_text() for p in etc.iterdir()}
    instance.write_directory_config([ANNA, NEW])
    after = {p.name: p.read_text() for p in etc.iterdir()}
    assert set(after) == set(before)  # no temporary files left behind
    assert {n for n in after if after[n] != before[n]} == {"pjsip.conf", "queues.conf"}
    assert "[1010](hotline-endpoint)" in after["pjsip.conf"]
    assert "password = new-operator-pass" in after["pjsip.conf"]
    assert "member => PJSIP/1010,0,New Operator,PJSIP/1010" in after["queues.conf"]
    # the service and Asterisk's group read it, no one else (tests/e2e/test_pbx_privileges.py)
    assert stat.S_IMODE((etc / "pjsip.conf").stat().st_mode) == 0o640


@pytest.mark.parametrize("bad", [
    Operator("1011", "Eve,PJSIP/1001", "some-password-1"),  # once extra queue member fields
    Operator("1011", "Anna ", "some-password-1"),  # once passed the API, failed here
    Operator("1011", "Я" * 40, "some-password-1"),  # 80 bytes: Asterisk cuts it mid-letter
])  # fmt: skip
def test_names_the_rules_refuse_are_not_written(instance: AsteriskInstance, bad: Operator) -> None:
    etc = instance.dir / "etc"
    before = {p.name: p.read_text() for p in etc.iterdir()}
    with pytest.raises(AsteriskError, match="^operator '1011' cannot go into Asterisk configuration: operator name"):
        instance.write_directory_config([ANNA, bad])
    assert {p.name: p.read_text() for p in etc.iterdir()} == before


def test_the_longest_name_reaches_asterisk_whole(asterisk: AsteriskInstance, e2e_settings: Settings) -> None:
    """app_queue keeps 79 bytes of a member name: the rules allow exactly that many."""
    etc = asterisk.dir / "etc"
    saved = {name: (etc / name).read_text() for name in ("pjsip.conf", "queues.conf")}
    longest = Operator("1012", "Я" * 39 + "A", "longest-name-1012")  # 79 bytes in UTF-8
    try:
        asterisk.write_directory_config([ANNA, longest])
        asterisk.rx("queue reload members")
        out = asterisk.rx(f"queue show {e2e_settings.asterisk.pool_queue}")
        assert f"{longest.name} (PJSIP/1012" in out
        assert "Anna Petrova (PJSIP/1001" in out
    finally:
        for name, text in saved.items():
            (etc / name).write_text(text)
        asterisk.rx("queue reload members")


def test_a_bad_value_leaves_the_files_alone(instance: AsteriskInstance) -> None:
    etc = instance.dir / "etc"
    before = {p.name: p.read_text() for p in etc.iterdir()}
    with pytest.raises(AsteriskError, match="operator name"):
        instance.write_directory_config([ANNA, Operator("1011", "Evil ; [x]", "some-password-1")])
    assert {p.name: p.read_text() for p in etc.iterdir()} == before
