"""Beyond one box, on one machine (issue 13, docs/cluster.md): `hotline cluster up` with a real
Kamailio, a real PostgreSQL and three real Asterisk + service nodes, each in a network
namespace of its own; callers are sipp on the host, through Kamailio only.

Needs root (network namespaces; the suite runs as root) and Debian's kamailio packages.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hotline.cluster.cluster import Cluster
from hotline.cluster.kamailio import KAMAILIO_BIN
from hotline.cluster.netns import Topology, namespaces
from hotline.paths import PROJECT_ROOT
from hotline.pbx.cdr import CdrLog
from hotline.pbx.sipp import (
    Dtmf,
    HangUp,
    Pause,
    build_scenario,
    free_udp_port,
    place_call,
    sipp_available,
)
from tests.e2e.peers import Baresip
from tests.support.slots import e2e_slot

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the cluster makes network namespaces and a "
                       "bridge: root only (the suite runs as root)"),
    pytest.mark.skipif(not Path(KAMAILIO_BIN).exists(), reason="Debian's kamailio is not installed "
                       "(scripts/install-deps.sh installs it)"),
    pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed"),
]

SLOT = e2e_slot()
# a prefix and subnet of this slot's own: `make cluster` (10.213.0.0/24) and other slots differ
TOPOLOGY = Topology(prefix=f"hc{SLOT % 1000}", subnet=f"10.213.{100 + SLOT % 150}.0/24")
CALLS = 30


def _state_dir(name: str) -> Path:
    """Under /tmp itself: PostgreSQL's user must reach it (pytest's tmp dirs are root's only)."""
    d = Path(tempfile.mkdtemp(prefix=f"hotline-{name}-{SLOT}-"))
    d.chmod(0o711)
    return d


def _cli(*args: str, state: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hotline.app.cli", "cluster", *args, "--state-dir", str(state)],
        capture_output=True, text=True, timeout=timeout, cwd=PROJECT_ROOT, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")})


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    state = _state_dir("cluster")
    up = _cli("up", "--prefix", TOPOLOGY.prefix, "--subnet", TOPOLOGY.subnet,
              # the bot's second-opinion Whisper workers are not what these tests are about
              "--env", "HOTLINE_BOT__ASR_ENGINE=pocketsphinx", state=state)
    try:
        assert up.returncode == 0, f"cluster up failed:\n{up.stderr[-4000:]}"
        yield Cluster(state)
    finally:
        down = _cli("down", "--force", state=state, timeout=180)
        assert down.returncode == 0, down.stderr[-3000:]
        shutil.rmtree(state, ignore_errors=True)


def _psql(c: Cluster, sql: str) -> list[list[str]]:
    out = subprocess.run(
        ["psql", c.database_url(driver="postgresql"), "-X", "-A", "-t", "-F", "\t", "-c", sql],
        capture_output=True, text=True, check=True, timeout=30).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def _place_calls(c: Cluster, tmp: Path, caller: str, n: int, *, rate: int = 3,
                 hold_ms: int = 3000) -> subprocess.CompletedProcess[str]:
    """`n` calls from sipp on the host to the hotline at Kamailio, `rate` a second, each
    hanging up after `hold_ms` (the IVR greets it meanwhile)."""
    tmp.mkdir(parents=True, exist_ok=True)
    xml = tmp / "caller.xml"
    xml.write_text(build_scenario(caller, None, [Pause(hold_ms), HangUp()], 30000, media_dir=tmp))
    k = c.kamailio
    return subprocess.run(
        ["sipp", f"{k.address}:{k.port}", "-sf", str(xml), "-s", "100", "-m", str(n),
         "-r", str(rate), "-l", str(n), "-i", k.address, "-p", str(free_udp_port()),
         "-mp", str(free_udp_port()), "-timeout", "120s", "-timeout_error", "-nostdin",
         "-trace_err", "-error_file", str(tmp / "errors.log"), "-trace_stat", "-stf",
         str(tmp / "stats.csv")],
        capture_output=True, text=True, timeout=180, cwd=tmp, check=False,
        env={**os.environ, "TERM": "dumb"})


def test_cluster_is_up_and_up_again_changes_nothing(cluster: Cluster) -> None:
    status = cluster.status()
    assert all(status["network"].values()), status["network"]
    assert status["kamailio"]["running"] and status["postgresql"]["running"]
    for n in status["nodes"]:
        assert (n["service"], n["asterisk"], n["healthy"]) == ("running", "running", True), n
    # Kamailio's dispatcher sees every node answer its OPTIONS
    deadline = time.monotonic() + 10
    while any(n["dispatcher"] != "up" for n in status["nodes"]) and time.monotonic() < deadline:
        time.sleep(0.5)
        status = cluster.status()
    assert [n["dispatcher"] for n in status["nodes"]] == ["up"] * 3
    pids = [n["pid"] for n in status["nodes"]]
    again = _cli("up", "--prefix", TOPOLOGY.prefix, "--subnet", TOPOLOGY.subnet, state=cluster.dir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert [n["pid"] for n in Cluster(cluster.dir).status()["nodes"]] == pids  # nothing restarted
    js = _cli("status", "--json", state=cluster.dir)
    assert json.loads(js.stdout)["kamailio"]["sip"] == f"udp {TOPOLOGY.host_address}:5060"


def test_thirty_calls_land_on_all_three_nodes_each_stored_once(cluster: Cluster, tmp_path: Path) -> None:
    """Must-show 1: 30 calls through Kamailio land on all three nodes; each is stored once in
    the shared PostgreSQL with the node that carried it (as each node's own Asterisk saw it)."""
    caller = f"+7916{int(time.time()) % 10_000_000:07d}"
    res = _place_calls(cluster, tmp_path, caller, CALLS)
    assert res.returncode == 0, f"sipp: {res.stdout[-3000:]}\n{res.stderr[-2000:]}"
    deadline = time.monotonic() + 60
    rows: list[list[str]] = []
    while time.monotonic() < deadline:  # the call records are written behind the calls
        rows = _psql(cluster, "SELECT uniqueid, node, ended_at IS NOT NULL FROM calls "
                              f"WHERE caller_number = '{caller}'")
        if len(rows) >= CALLS and all(r[2] == "t" for r in rows):
            break
        time.sleep(0.5)
    assert len(rows) == CALLS, f"{len(rows)} call rows for {CALLS} calls"
    assert len({r[0] for r in rows}) == CALLS  # one row per call
    per_node = Counter(r[1] for r in rows)
    assert set(per_node) == {"n1", "n2", "n3"}, per_node
    # each node's row count is what its own Asterisk carried (its CDRs of this caller)
    for n in cluster.st.nodes:
        cdrs = {r.uniqueid for r in CdrLog(cluster.asterisk(n).cdr_file).read_new()
                if r.src == caller and r.hotline}
        assert {r[0] for r in rows if r[1] == n.name} == cdrs, n.name
    print(f"calls per node: {dict(sorted(per_node.items()))}")


def test_operator_registers_at_kamailio_with_the_directory_password(cluster: Cluster, tmp_path: Path) -> None:
    """Digest auth against the directory in PostgreSQL (the HA1 view): the demo operator 1001
    registers with its password; a wrong password is refused."""
    k = cluster.kamailio
    results = {}
    for label, password in (("right", "demo-pass-1001"), ("wrong", "not-the-password-1001")):
        xml = tmp_path / f"register-{label}.xml"
        xml.write_text(_REGISTER.replace("@PASSWORD@", password))
        done = subprocess.run(
            ["sipp", f"{k.address}:{k.port}", "-sf", str(xml), "-m", "1", "-i", k.address,
             "-p", str(free_udp_port()), "-s", "1001", "-au", "1001", "-timeout", "15s",
             "-timeout_error", "-nostdin"],
            capture_output=True, text=True, timeout=30, cwd=tmp_path, check=False,
            env={**os.environ, "TERM": "dumb"})
        results[label] = done.returncode
    assert results == {"right": 0, "wrong": 1}, results
    assert "1001" in (k.rpc("ul.dump") or "")


async def test_every_node_rings_an_operator_registered_at_kamailio(cluster: Cluster) -> None:
    """Nodes dial operators through Kamailio: the VIP (whose personal manager is 1001)
    presses 0 on three calls, one per node (round robin); 1001, a softphone registered at
    Kamailio only, answers each, and each call is stored as answered by 1001 on its node."""
    k = cluster.kamailio
    op = Baresip("1001", "demo-pass-1001", k.port, host=k.address)
    await op.start(timeout=20)
    try:
        before = _psql(cluster, "SELECT coalesce(max(id), 0) FROM calls")[0][0]
        for _ in range(3):
            res = await place_call(target=f"{k.address}:{k.port}", service="100",
                                   caller_id="+79161234567", local_ip=k.address, timeout=60,
                                   steps=[Pause(1500), Dtmf("0"), Pause(6000), HangUp()])
            assert res.ok, res.stderr[-2000:]
        rows: list[list[str]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            rows = _psql(cluster, "SELECT c.node, o.extension FROM calls c LEFT JOIN operators o "
                                  f"ON o.id = c.answered_by_id WHERE c.id > {before} "
                                  "AND c.caller_number = '+79161234567' AND c.ended_at IS NOT NULL")
            if len(rows) >= 3:
                break
            await asyncio.sleep(0.5)
        assert sorted(rows) == [["n1", "1001"], ["n2", "1001"], ["n3", "1001"]], rows
        established = [line for line in op.lines if "Call established" in line]
        assert len(established) == 3, established
    finally:
        await op.stop()


def test_dialplan_activated_on_node_1_is_played_on_node_3(cluster: Cluster, tmp_path: Path) -> None:
    """Must-show 4: a version uploaded (and so activated) through node 1's API becomes node
    3's active dialplan within seconds (its registry follows the shared dialplan_versions),
    and the next calls there run on it."""
    n1, n3 = cluster.node("n1"), cluster.node("n3")
    with httpx.Client(base_url=n1.http, timeout=30) as http:
        login = http.post("/api/auth/login", json=_demo_admin(cluster))
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        name = f"cluster-test-{time.time_ns() % 10**9}"
        source = (PROJECT_ROOT / "dialplan" / "hotline.yaml").read_text()
        assert "\nname: lottery-hotline\n" in source
        up = http.post("/api/dialplans/upload", headers=headers,
                       json={"content": source.replace("\nname: lottery-hotline\n", f"\nname: {name}\n")})
        assert up.status_code == 201, up.text
        version = up.json()["version_id"]
    assert version.startswith(name + "@")
    started = time.monotonic()
    active = None
    while time.monotonic() - started < 15:
        active = (cluster.health(n3) or {}).get("dialplan_active")
        if active == version:
            break
        time.sleep(0.1)
    assert active == version, f"node 3 still serves {active}"
    print(f"node 3 took the new version after {time.monotonic() - started:.1f} s")
    # one call per node (round robin): node 3's runs on the new version
    caller = f"+7917{int(time.time()) % 10_000_000:07d}"
    res = _place_calls(cluster, tmp_path, caller, 3, rate=1)
    assert res.returncode == 0, f"sipp: {res.stdout[-3000:]}"
    rows: list[list[str]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(rows) < 3:
        rows = _psql(cluster, f"SELECT node, dialplan_version FROM calls WHERE caller_number = '{caller}'")
        time.sleep(0.5)
    assert {r[0] for r in rows} == {"n1", "n2", "n3"}, rows
    assert {r[1] for r in rows} == {version}, rows


def _calls_in_log(messages: str) -> dict[str, dict[str, str | bool]]:
    """Per SIP Call-ID of a sipp message log: the node that answered the INVITE (the 200's
    Contact host) and whether the caller's BYE was answered (the call ended well)."""
    calls: dict[str, dict[str, str | bool]] = {}
    for block in re.split(r"\n-{20,}[^\n]*\n", messages):
        if "message received" not in block:
            continue
        call_id = re.search(r"^Call-ID:\s*(\S+)", block, re.MULTILINE | re.IGNORECASE)
        first = re.search(r"^SIP/2\.0 (\d{3})", block, re.MULTILINE)
        cseq = re.search(r"^CSeq:\s*\d+\s+(\w+)", block, re.MULTILINE | re.IGNORECASE)
        if not (call_id and first and cseq) or first.group(1) != "200":
            continue
        c = calls.setdefault(call_id.group(1), {"node": "", "ended": False})
        if cseq.group(1).upper() == "INVITE":
            contact = re.search(r"^Contact:\s*<sip:([^:>;]+)", block, re.MULTILINE | re.IGNORECASE)
            c["node"] = contact.group(1) if contact else ""
        elif cseq.group(1).upper() == "BYE":
            c["ended"] = True
    return calls


def test_node_2_dies_under_load_calls_go_on_and_it_comes_back(cluster: Cluster, tmp_path: Path) -> None:
    """Must-show 3: under steady sipp load node 2's Asterisk and service are killed; new calls
    keep getting through (Kamailio fails them over at once and marks node 2 down); the calls
    node 2 was carrying are counted; node 2 started again takes calls again."""
    n2 = cluster.node("n2")
    caller = f"+7918{int(time.time()) % 10_000_000:07d}"
    total, rate, hold = 60, 2, 3000
    work = tmp_path / "load"
    work.mkdir()
    xml = work / "caller.xml"
    xml.write_text(build_scenario(caller, None, [Pause(hold), HangUp()], 30000, media_dir=work))
    k = cluster.kamailio
    load = subprocess.Popen(
        ["sipp", f"{k.address}:{k.port}", "-sf", str(xml), "-s", "100", "-m", str(total),
         "-r", str(rate), "-l", str(total), "-i", k.address, "-p", str(free_udp_port()),
         "-mp", str(free_udp_port()), "-timeout", "150s", "-nostdin", "-trace_msg",
         "-message_file", str(work / "messages.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work,
        env={**os.environ, "TERM": "dumb"})
    try:
        time.sleep(8)  # load is steady: every node carries calls
        killed_at = time.monotonic()
        cluster.kill_node("n2")
        detected = None
        while time.monotonic() - killed_at < 30:
            if cluster.kamailio.node_states().get(n2.sip) == "down":
                detected = time.monotonic() - killed_at
                break
            time.sleep(0.05)
        assert detected is not None, "Kamailio never marked node 2 down"
        load.wait(timeout=200)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    calls = _calls_in_log((work / "messages.log").read_text(errors="replace"))
    assert len(calls) == total, f"{len(calls)} of {total} calls were answered at all"
    failed = {cid: c for cid, c in calls.items() if not c["ended"]}
    by_node = Counter(str(c["node"]) for c in calls.values())
    # every call that failed was one node 2 had answered (it was on node 2 when it died);
    # no call answered by another node failed, and every call was answered by someone
    assert {c["node"] for c in failed.values()} <= {n2.address}, failed
    assert set(by_node) == {cluster.node(n).address for n in ("n1", "n2", "n3")}, by_node
    lost = len(failed)
    print(f"node 2 killed: marked down after {detected:.2f} s; {lost} calls it carried were lost; "
          f"{total - lost} of {total} calls completed; answered per node {dict(by_node)}")
    # node 2 comes back: no calls while its service starts (Kamailio has it disabled even
    # though its Asterisk answers OPTIONS), then it takes calls again
    cluster.start_node("n2", wait=False)
    waited = 0
    while (cluster.health(n2) or {}).get("status") != "ok" and waited < 600:
        assert cluster.kamailio.node_states().get(n2.sip) != "up"
        time.sleep(0.3)
        waited += 1
    cluster.wait_ready(n2)
    deadline = time.monotonic() + 30
    while cluster.kamailio.node_states().get(n2.sip) != "up" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cluster.kamailio.node_states().get(n2.sip) == "up"
    again = f"+7919{int(time.time()) % 10_000_000:07d}"
    res = _place_calls(cluster, tmp_path / "after", again, 6, rate=2)
    assert res.returncode == 0, f"sipp: {res.stdout[-3000:]}"
    deadline = time.monotonic() + 30
    rows: list[list[str]] = []
    while time.monotonic() < deadline:
        rows = _psql(cluster, f"SELECT node FROM calls WHERE caller_number = '{again}'")
        if len(rows) >= 6:
            break
        time.sleep(0.5)
    assert "n2" in {r[0] for r in rows}, rows
    # the lost calls' rows are node 2's and still open: its reconciliation closes them
    # (ended_unknown) once they are older than its CDR wait; the other nodes leave them alone
    open_rows = _psql(cluster, "SELECT node, count(*) FROM calls WHERE ended_at IS NULL AND "
                               f"caller_number = '{caller}' GROUP BY node")
    assert {r[0] for r in open_rows} <= {"n2"}, open_rows
    stored_open = int(open_rows[0][1]) if open_rows else 0
    assert stored_open <= lost
    print(f"lost calls: {lost} seen by the callers, {stored_open} open rows of node 2")


def _demo_admin(c: Cluster) -> dict[str, str]:
    """The demo admin's credentials, from the node that made the demo users."""
    for node in c.st.nodes:
        f = Path(node.var_dir) / "qa-users.txt"
        if f.exists():
            for line in f.read_text().splitlines():
                parts = line.split()
                if parts and parts[0] == "admin":
                    return {"username": "admin", "password": parts[-1]}
    raise AssertionError("no demo admin in any node's qa-users.txt")


def test_down_removes_the_network_and_the_processes() -> None:
    """`down` is clean and idempotent (on a cluster of one node of its own)."""
    topo = Topology(prefix=f"hd{SLOT % 1000}", subnet=f"10.213.{50 + SLOT % 50}.0/24", nodes=1)
    state = _state_dir("cluster-down")
    up = _cli("up", "--prefix", topo.prefix, "--subnet", topo.subnet, "--nodes", "1",
              "--env", "HOTLINE_BOT__ASR_ENGINE=pocketsphinx", state=state)
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        c = Cluster(state)
        pids = [c.st.kamailio_pid, c.st.postgres_pid, c.st.nodes[0].pid, c.asterisk_pid(c.st.nodes[0])]
        assert all(pids)
    finally:
        down = _cli("down", state=state, timeout=180)
    assert down.returncode == 0, down.stderr[-3000:]
    assert topo.netns("n1") not in namespaces()
    assert subprocess.run(["ip", "link", "show", "dev", topo.bridge], capture_output=True).returncode != 0
    deadline = time.monotonic() + 5  # a process may still be reaped by init
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in pids if Path(f"/proc/{pid}").exists()] == []
    assert not (state / "state.json").exists()
    again = _cli("down", "--force", state=state, timeout=60)
    assert again.returncode == 0, again.stderr[-3000:]
    shutil.rmtree(state, ignore_errors=True)


# REGISTER with digest auth: sipp answers the 401 challenge with [authentication] (-au/-ap)
_REGISTER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="operator registers">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:1001@[remote_ip]>;tag=[pid]SIPpTag[call_number]
      To: <sip:1001@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:1001@[local_ip]:[local_port]>
      Expires: 120
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="401" auth="true"/>
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:1001@[remote_ip]>;tag=[pid]SIPpTag[call_number]
      To: <sip:1001@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:1001@[local_ip]:[local_port]>
      Expires: 120
      [authentication username=1001 password=@PASSWORD@]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""
