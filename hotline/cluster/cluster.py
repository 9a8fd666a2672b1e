"""`hotline cluster up|down|status`: Kamailio, a shared PostgreSQL and N nodes (each its own
Asterisk and Hotline service in a network namespace of its own) on one machine.

What `up` starts is written to `<state dir>/state.json` (mode 0600: it also holds the
generated database passwords): `down` stops exactly those processes, by their pids, then
removes the network. Both are idempotent: `up` starts what is not running, `down` skips
what is gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import structlog

from hotline.cluster import netns
from hotline.cluster.kamailio import Kamailio
from hotline.cluster.netns import Topology
from hotline.cluster.postgres import KAMAILIO_ROLE, KAMAILIO_VIEW, ClusterPostgres, new_password
from hotline.paths import PROJECT_ROOT
from hotline.pbx.asterisk import AsteriskInstance, provision_root
from hotline.pbx.settings import AsteriskSettings, ServiceSettings

log = structlog.get_logger(__name__)

REALM = "hotline"  # the digest realm operators authenticate in (HA1s are computed for it)
KAMAILIO_PORT = 5060
NODE_SIP_PORT = 5060
NODE_HTTP_PORT = 8080
NODE_READY_TIMEOUT = 180.0  # a node loads its speech models before it serves
STOP_TIMEOUT = 20.0


class ClusterError(Exception):
    """The cluster cannot be brought up (or down); the message says why."""


@dataclass
class Node:
    name: str
    netns: str
    address: str
    instance: str  # its Asterisk instance (<root>/srv/hotline/<instance>)
    var_dir: str
    pid: int | None = None  # its `hotline run`

    @property
    def http(self) -> str:
        return f"http://{self.address}:{NODE_HTTP_PORT}"

    @property
    def sip(self) -> str:
        return f"{self.address}:{NODE_SIP_PORT}"


@dataclass
class State:
    prefix: str
    subnet: str
    nodes: list[Node]
    owner_password: str
    kamailio_password: str
    postgres_pid: int | None = None
    kamailio_pid: int | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def topology(self) -> Topology:
        return Topology(self.prefix, self.subnet, len(self.nodes))


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie of ours is not alive
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return False


def _stop_pid(pid: int | None, *, sig: int = signal.SIGTERM, again: bool = True,
              timeout: float = STOP_TIMEOUT) -> None:
    """Signal one process (a second signal halfway through the wait, then SIGKILL)."""
    if not _alive(pid):
        return
    assert pid is not None
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    second = time.monotonic() + timeout / 2
    while _alive(pid) and time.monotonic() < deadline:
        if again and time.monotonic() > second:
            os.kill(pid, sig)  # `hotline run`: a second signal cuts the drain short
            again = False
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


class Cluster:
    def __init__(self, state_dir: Path, topology: Topology | None = None,
                 config: Path | None = None, extra_env: dict[str, str] | None = None):
        self.dir = state_dir
        self.state_file = state_dir / "state.json"
        self.config = config
        self.state = self._load()
        if self.state is None:
            t = topology or Topology()
            self.state = State(
                prefix=t.prefix, subnet=t.subnet, owner_password=new_password(),
                kamailio_password=new_password(), extra_env=dict(extra_env or {}),
                nodes=[Node(n, t.netns(n), t.node_address(n), f"{t.prefix}-{n}",
                            str(state_dir / n / "var")) for n in t.node_names()])
        elif topology is not None and (topology.prefix, topology.subnet, topology.nodes) != (
                self.state.prefix, self.state.subnet, len(self.state.nodes)):
            raise ClusterError(f"a cluster with another topology is recorded in {self.state_file}: "
                               "`hotline cluster down` it first")
        t = self.state.topology
        self.pg = ClusterPostgres(state_dir / "postgres", t.host_address, t.subnet)
        self.kamailio = Kamailio(state_dir / "kamailio", t.host_address, KAMAILIO_PORT)

    # --- state ---------------------------------------------------------------------------

    def _load(self) -> State | None:
        try:
            raw = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return None
        raw["nodes"] = [Node(**n) for n in raw["nodes"]]
        return State(**raw)

    def _save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        # traversable (PostgreSQL's and Kamailio's users reach their directories), not listable
        self.dir.chmod(0o711)
        tmp = self.state_file.with_name(".state.json.tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(self.st), f, indent=2)
        tmp.replace(self.state_file)

    @property
    def st(self) -> State:
        assert self.state is not None
        return self.state

    def database_url(self, *, driver: str = "postgresql+asyncpg") -> str:
        return self.pg.url(self.st.owner_password, driver=driver)

    def node(self, name: str) -> Node:
        for n in self.st.nodes:
            if n.name == name:
                return n
        raise ClusterError(f"no node {name!r} (nodes: {', '.join(n.name for n in self.st.nodes)})")

    # --- up ------------------------------------------------------------------------------

    def up(self, prepare_database: Callable[[str], None], hotline_extension: str = "100") -> None:
        """Everything, in order; what already runs is left running. `prepare_database(url)`
        migrates the shared database (and loads the demo data into it when empty)."""
        if os.geteuid() != 0:
            raise ClusterError("`hotline cluster up` makes network namespaces: run it as root")
        t = self.st.topology
        self._save()
        netns.up(t)
        if not _alive(self.st.postgres_pid):
            self.pg.init()
            self.st.postgres_pid = self.pg.start(self.dir / "postgres.log")
            self._save()
        self.pg.ensure_roles(self.st.owner_password, self.st.kamailio_password)
        prepare_database(self.database_url())
        self.pg.ensure_kamailio_view(REALM)
        self.pg.ensure_kamailio_location()
        if not _alive(self.st.kamailio_pid):
            self.kamailio.write_config(
                nodes={n.name: n.address for n in self.st.nodes}, node_sip_port=NODE_SIP_PORT,
                db_url=self.pg.url(self.st.kamailio_password, driver="postgres", role=KAMAILIO_ROLE),
                realm=REALM, auth_table=KAMAILIO_VIEW, hotline_extension=hotline_extension)
            self.st.kamailio_pid = self.kamailio.start()
            self._save()
        a = AsteriskSettings()
        provision_root(a.root, a.cache)  # once, before the nodes (they share the root)
        # the first node alone (it makes what the nodes share once: the demo users), then
        # the others together
        first, *rest = self.st.nodes
        self.start_node(first.name)
        for n in rest:
            self.start_node(n.name, wait=False)
        for n in rest:
            self.wait_ready(n)

    def node_env(self, n: Node) -> dict[str, str]:
        t = self.st.topology
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        env.update({
            "HOTLINE_VAR_DIR": n.var_dir,
            "HOTLINE_SERVICE__NODE": n.name,
            "HOTLINE_SERVICE__HTTP_HOST": n.address,
            "HOTLINE_SERVICE__HTTP_PORT": str(NODE_HTTP_PORT),
            "HOTLINE_SERVICE__DRAIN_GRACE": "5",
            "HOTLINE_ASTERISK__INSTANCE": n.instance,
            "HOTLINE_ASTERISK__SIP_HOST": n.address,
            "HOTLINE_ASTERISK__SIP_PORT": str(NODE_SIP_PORT),
            "HOTLINE_ASTERISK__SIP_PROXY": f"{t.host_address}:{KAMAILIO_PORT}",
            "HOTLINE_DATABASE__URL": self.database_url(),
            "HOTLINE_CLUSTER__ENABLED": "true",
        })
        if self.config is not None:
            env["HOTLINE_CONFIG"] = str(self.config)
        env.update(self.st.extra_env)
        return env

    def start_node(self, name: str, *, wait: bool = True) -> Node:
        """Start a node's `hotline run` (which writes its Asterisk's configuration and starts
        that Asterisk) inside the node's namespace."""
        n = self.node(name)
        if _alive(n.pid):
            return n
        # no calls until the service is ready: its Asterisk answers Kamailio's OPTIONS as soon
        # as it runs, seconds before the service (speech models) serves FastAGI
        self._dispatch(n, "d")
        var = Path(n.var_dir)
        var.mkdir(parents=True, exist_ok=True)
        with open(var.parent / "service.log", "ab") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", n.netns, sys.executable, "-m", "hotline.app.cli", "run"],
                env=self.node_env(n), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=PROJECT_ROOT)
        n.pid = proc.pid  # `ip netns exec` execs the command: this is the service's pid
        self._save()
        if wait:
            self.wait_ready(n)
        return n

    def wait_ready(self, n: Node, timeout: float = NODE_READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(n.pid):
                raise ClusterError(f"node {n.name}'s service exited; see {Path(n.var_dir).parent / 'service.log'}")
            if (h := self.health(n)) is not None and h.get("status") == "ok":
                self._dispatch(n, "ap")  # calls again, and probed as before
                return
            time.sleep(0.5)
        raise ClusterError(f"node {n.name} not ready within {timeout:.0f} s; see "
                           f"{Path(n.var_dir).parent / 'service.log'}")

    def _dispatch(self, n: Node, state: str) -> None:
        if _alive(self.st.kamailio_pid) and not self.kamailio.set_node_state(f"sip:{n.sip}", state):
            log.warning("cluster.dispatcher_state_not_set", node=n.name, state=state)

    def health(self, n: Node) -> dict[str, Any] | None:
        try:
            r = httpx.get(f"{n.http}/health", timeout=2)
        except httpx.HTTPError:
            return None
        try:
            body = r.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def asterisk(self, n: Node) -> AsteriskInstance:
        return AsteriskInstance(SimpleNamespace(
            asterisk=AsteriskSettings(instance=n.instance), service=ServiceSettings()))

    def asterisk_pid(self, n: Node) -> int | None:
        try:
            return int((self.asterisk(n).dir / "run" / "asterisk.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def kill_node(self, name: str) -> None:
        """A node dies: SIGKILL to its service and its Asterisk (no drain, no goodbye)."""
        n = self.node(name)
        for pid in (n.pid, self.asterisk_pid(n)):
            if _alive(pid):
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
        n.pid = None
        self._save()

    def stop_node(self, name: str) -> None:
        """The service drains and stops the Asterisk it started; an Asterisk left (the
        service was killed) is stopped through its control socket."""
        n = self.node(name)
        self._dispatch(n, "d")  # new calls go to the other nodes while this one drains
        _stop_pid(n.pid)
        ast = self.asterisk(n)
        if ast.running():
            ast.stop()
        n.pid = None
        self._save()

    # --- down / status -------------------------------------------------------------------

    def down(self) -> None:
        if os.geteuid() != 0:
            raise ClusterError("`hotline cluster down` removes network namespaces: run it as root")
        for n in self.st.nodes:
            self.stop_node(n.name)
        _stop_pid(self.st.kamailio_pid, again=False)
        self.st.kamailio_pid = None
        self.pg.stop()
        self.st.postgres_pid = None
        netns.down(self.st.topology)
        self.state_file.unlink(missing_ok=True)

    def status(self) -> dict[str, Any]:
        t = self.st.topology
        dispatcher = self.kamailio.node_states() if _alive(self.st.kamailio_pid) else {}
        nodes = []
        for n in self.st.nodes:
            h = self.health(n) if _alive(n.pid) else None
            nodes.append({
                "node": n.name, "netns": n.netns, "address": n.address,
                "service": "running" if _alive(n.pid) else "stopped", "pid": n.pid,
                "asterisk": "running" if _alive(self.asterisk_pid(n)) else "stopped",
                "sip": n.sip, "http": n.http, "healthy": bool(h and h.get("status") == "ok"),
                "dispatcher": dispatcher.get(n.sip, "unknown"),
                "service_log": str(Path(n.var_dir).parent / "service.log"),
                "asterisk_log": str(self.asterisk(n).log_file),
            })
        return {
            "network": netns.present(t),
            "kamailio": {"sip": f"udp {t.host_address}:{KAMAILIO_PORT}",
                         "running": _alive(self.st.kamailio_pid), "pid": self.st.kamailio_pid,
                         "log": str(self.kamailio.log)},
            "postgresql": {"address": f"{t.host_address}:{self.pg.port}", "database": "hotline",
                           "running": self.pg.running_pid() is not None,
                           "log": str(self.dir / "postgres.log")},
            "nodes": nodes,
            "state": str(self.state_file),
        }
