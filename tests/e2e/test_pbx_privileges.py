"""Least privilege on the real Asterisk: the service's AMI user can do what the service does and
nothing that would make its secret a shell; Asterisk itself runs as an unprivileged user."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from hotline.app.service import Service
from hotline.app.settings import Settings
from hotline.pbx.agi import KEY_FILE
from hotline.pbx.ami import AmiClient, Message
from hotline.pbx.asterisk import RUN_USER, AsteriskInstance
from hotline.pbx.console import run_command
from hotline.pbx.sipp import place_call
from tests.e2e.peers import SippOperator

# Each would run a shell, change or read Asterisk's configuration, or start dialplan
# applications; the service's user must be refused every one.
REFUSED = {
    "Command core show": {"Action": "Command", "Command": "core show version"},
    "Command !sh": {"Action": "Command", "Command": "!id > /tmp/hotline-ami-shell"},
    "UpdateConfig": {
        "Action": "UpdateConfig", "SrcFilename": "manager.conf", "DstFilename": "manager.conf",
        "Reload": "yes", "Action-000000": "Append", "Cat-000000": "hotline",
        "Var-000000": "write", "Value-000000": "all",
    },
    "CreateConfig": {"Action": "CreateConfig", "Filename": "hotline-evil.conf"},
    "GetConfig manager.conf": {"Action": "GetConfig", "Filename": "manager.conf"},
    "GetConfigJSON pjsip.conf": {"Action": "GetConfigJSON", "Filename": "pjsip.conf"},
    "Originate System": {
        "Action": "Originate", "Channel": "Local/s@hotline", "Application": "System",
        "Data": "id > /tmp/hotline-ami-shell", "Async": "true",
    },
    "Originate Wait": {"Action": "Originate", "Channel": "Local/s@hotline",
                       "Application": "Wait", "Data": "1"},
    "MixMonitor Command": {"Action": "MixMonitor", "Channel": "PJSIP/1001-00000000",
                           "File": "/tmp/x.wav", "Command": "id > /tmp/hotline-ami-shell"},
    "ModuleLoad": {"Action": "ModuleLoad", "Module": "app_system.so", "LoadType": "load"},
    "DBPut": {"Action": "DBPut", "Family": "hotline", "Key": "k", "Val": "v"},
    "Reload": {"Action": "Reload", "Module": "manager"},
    "Setvar global": {"Action": "Setvar", "Variable": "GLOBAL(X)", "Value": "1"},
    "Redirect": {"Action": "Redirect", "Channel": "PJSIP/1001-00000000", "Context": "hotline",
                 "Exten": "s", "Priority": "1"},
    "Hangup": {"Action": "Hangup", "Channel": "/.*/"},
}


async def logged_in(settings: Settings) -> AmiClient:
    a = settings.asterisk
    assert a.ami_secret is not None
    client = AmiClient(a.host, a.ami_port, a.ami_user, a.ami_secret.get_secret_value())
    await client.start()
    await client.wait_connected(10)
    return client


@pytest.mark.parametrize("name", sorted(REFUSED))
async def test_the_service_ami_user_is_refused(asterisk: AsteriskInstance, e2e_settings: Settings,
                                               name: str) -> None:
    shell_mark = Path(asterisk.root, "tmp", "hotline-ami-shell")
    shell_mark.unlink(missing_ok=True)
    client = await logged_in(e2e_settings)
    try:
        resp: Message = await client.action(REFUSED[name])
    finally:
        await client.stop()
    assert not resp.success, dict(resp)
    assert resp.message.lower() == "permission denied", dict(resp)
    assert not shell_mark.exists()


async def test_getvar_cannot_read_files_or_run_shells(asterisk: AsteriskInstance,
                                                      e2e_settings: Settings) -> None:
    """Getvar is in `reporting` (CoreSettings needs it): functions that escalate are refused."""
    manager_conf = f"{asterisk.inside}/etc/manager.conf"
    client = await logged_in(e2e_settings)
    try:
        file_resp = await client.action({"Action": "Getvar", "Variable": f"FILE({manager_conf})"})
        shell_resp = await client.action({"Action": "Getvar", "Variable": "SHELL(id)"})
    finally:
        await client.stop()
    secret = e2e_settings.asterisk.ami_secret
    assert secret is not None
    # FILE() answers empty: "Dangerous function FILE read blocked" (live_dangerously = no)
    assert file_resp.get("Value", "") == "" and secret.get_secret_value() not in str(dict(file_resp))
    assert not shell_resp.success and "uid=" not in str(dict(shell_resp))


async def test_the_service_ami_user_can_do_what_the_service_does(
    asterisk: AsteriskInstance, e2e_settings: Settings
) -> None:
    client = await logged_in(e2e_settings)
    try:
        settings = await client.core_settings()
        states = await client.action_list({"Action": "DeviceStateList"}, "DeviceStateListComplete")
        queue = await client.action({"Action": "QueueReload", "Queue": e2e_settings.asterisk.pool_queue,
                                     "Members": "yes"}, check=True)
        pong = await client.action({"Action": "Ping"}, check=True)
    finally:
        await client.stop()
    assert settings["AsteriskVersion"].startswith("22")
    assert any(m["Device"].startswith("PJSIP/") for m in states)
    assert queue.success and pong.success


async def test_directory_reload_goes_through_the_control_socket(service: Service,
                                                                asterisk: AsteriskInstance) -> None:
    """What the AMI user may not do (reload res_pjsip) the service does on the control socket."""
    assert await service._reload_asterisk()
    out = await run_command(asterisk.control_socket, "core show version")
    assert out.startswith("Asterisk 22")
    mode = asterisk.control_socket.stat()
    uid, gid = asterisk.run_ids()
    assert (mode.st_uid, mode.st_gid, stat.S_IMODE(mode.st_mode)) == (uid, gid, 0o660)


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (ln.partition(":") for ln in lines)}


async def test_asterisk_runs_as_its_own_unprivileged_user(asterisk: AsteriskInstance) -> None:
    assert asterisk.proc is not None
    status = _status(asterisk.proc.pid)
    assert status["Name"] == "asterisk"
    uid, gid = asterisk.run_ids()
    assert uid != 0 and gid != 0
    # chroot shares ids with the host: no host account may be the same user or group
    host_ids = {line.split(":")[2] for t in ("passwd", "group")
                for line in Path("/etc", t).read_text().splitlines() if line.count(":") >= 2}
    assert str(uid) not in host_ids and str(gid) not in host_ids
    assert status["Uid"].split() == [str(uid)] * 4, status["Uid"]  # real, effective, saved, fs
    assert status["Gid"].split() == [str(gid)] * 4, status["Gid"]
    assert status["Groups"] in ("", str(gid)), status["Groups"]
    # what it writes is its own; its configuration it can read, not change
    astdb = asterisk.dir / "lib" / "astdb.sqlite3"
    assert astdb.stat().st_uid == uid
    etc = asterisk.dir / "etc"
    assert not os.stat(etc).st_mode & stat.S_IWGRP and etc.stat().st_uid != uid
    for name in ("manager.conf", "pjsip.conf", KEY_FILE):
        st = (etc / name).stat()
        assert st.st_uid != uid and st.st_gid == gid and stat.S_IMODE(st.st_mode) == 0o640, name
    assert RUN_USER in Path(asterisk.root, "etc", "passwd").read_text()


async def test_a_call_reaches_an_operator_with_asterisk_unprivileged(
    asterisk: AsteriskInstance, e2e_settings: Settings, sip_target: str
) -> None:
    """Asterisk alone (its fallback to the pool): SIP, RTP, the queue, as its own user. The
    service's calls run through it in every other e2e test."""
    operator = SippOperator("1004", "demo-pass-1004", e2e_settings.asterisk.sip_port,
                            answer_delay_ms=300, talk_ms=1500)
    await operator.start()
    try:
        await asyncio.sleep(1.0)  # registered
        res = await place_call(target=sip_target, caller_id="+79990001199", steps=[], timeout=40)
        assert res.ok, res.stderr + res.messages[-2000:]
        assert await operator.wait(20) == 0, operator.messages()[-2000:]
        assert "INVITE sip:1004@" in operator.messages()
    finally:
        await operator.stop()
    assert asterisk.proc is not None and _status(asterisk.proc.pid)["Uid"].split()[0] != "0"
