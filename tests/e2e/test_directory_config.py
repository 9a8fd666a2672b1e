"""`write_directory_config` rewrites only the directory's files, completely or not at all."""

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
    inst.write_config([ANNA], "render-test-secret")
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
    assert stat.S_IMODE((etc / "pjsip.conf").stat().st_mode) == 0o600


def test_a_bad_value_leaves_the_files_alone(instance: AsteriskInstance) -> None:
    etc = instance.dir / "etc"
    before = {p.name: p.read_text() for p in etc.iterdir()}
    with pytest.raises(AsteriskError, match="operator name"):
        instance.write_directory_config([ANNA, Operator("1011", "Evil ; [x]", "some-password-1")])
    assert {p.name: p.read_text() for p in etc.iterdir()} == before
