"""Kamailio (Debian 12's `kamailio`, `kamailio-postgres-modules`): the cluster's one SIP
address. Its configuration is rendered from `cluster/kamailio.cfg.j2`; it runs as the
package's `kamailio` user, in the foreground of a session of its own, logging to a file."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from hotline.paths import PROJECT_ROOT

TEMPLATE_DIR = PROJECT_ROOT / "cluster"
TEMPLATE = "kamailio.cfg.j2"
KAMAILIO_BIN = "/usr/sbin/kamailio"
KAMCMD_BIN = "/usr/sbin/kamcmd"
MODULE_DIR = "/usr/lib/x86_64-linux-gnu/kamailio/modules"
RUN_USER = "kamailio"
NODE_SET = 1  # the dispatcher set of the Asterisk nodes


class KamailioError(Exception):
    pass


@dataclass
class Kamailio:
    dir: Path  # kamailio.cfg, dispatcher.list, the control socket, the log
    address: str
    port: int = 5060

    @property
    def cfg(self) -> Path:
        return self.dir / "kamailio.cfg"

    @property
    def dispatcher_list(self) -> Path:
        return self.dir / "dispatcher.list"

    @property
    def ctl_socket(self) -> Path:
        return self.dir / "run" / "kamailio_ctl"

    @property
    def log(self) -> Path:
        return self.dir / "kamailio.log"

    def write_config(self, *, nodes: Mapping[str, str], node_sip_port: int, db_url: str,
                     realm: str, auth_table: str, hotline_extension: str,
                     ping_interval: int = 1, node_timeout_ms: int = 1000,
                     node_answer_timeout_ms: int = 10000) -> None:
        """kamailio.cfg (mode 0640, group kamailio: it holds the database password) and the
        dispatcher list (one line per node: `set sip:address:port flags priority attrs`)."""
        if not Path(KAMAILIO_BIN).exists():
            raise KamailioError(f"{KAMAILIO_BIN} is missing: install Debian's kamailio and "
                                "kamailio-postgres-modules (scripts/install-deps.sh does)")
        gid = grp.getgrnam(RUN_USER).gr_gid
        uid = pwd.getpwnam(RUN_USER).pw_uid
        self.dir.mkdir(parents=True, exist_ok=True)
        run = self.ctl_socket.parent
        run.mkdir(exist_ok=True)
        os.chown(run, uid, gid)
        run.chmod(0o700)
        env = Environment(loader=FileSystemLoader(str(TEMPLATE_DIR)), undefined=StrictUndefined,
                          keep_trailing_newline=True)
        text = env.get_template(TEMPLATE).render(
            address=self.address, port=self.port, module_dir=MODULE_DIR,
            ctl_socket=str(self.ctl_socket), db_url=db_url, realm=realm, auth_table=auth_table,
            dispatcher_list=str(self.dispatcher_list), node_set=NODE_SET,
            hotline_extension=hotline_extension, ping_interval=ping_interval,
            node_timeout_ms=node_timeout_ms, node_answer_timeout_ms=node_answer_timeout_ms)
        lines = [f"# node: {name}\n{NODE_SET} sip:{addr}:{node_sip_port} 8 0 duid={name}\n"
                 for name, addr in nodes.items()]
        for path, content in ((self.cfg, text), (self.dispatcher_list, "".join(lines))):
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.unlink(missing_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                os.fchown(f.fileno(), -1, gid)
                os.fchmod(f.fileno(), 0o640)
                f.write(content)
            tmp.replace(path)

    def check_config(self) -> None:
        res = subprocess.run([KAMAILIO_BIN, "-c", "-f", str(self.cfg)], capture_output=True,
                             text=True, check=False, timeout=30)
        if res.returncode != 0:
            raise KamailioError(f"kamailio -c {self.cfg}:\n{res.stderr.strip()[-3000:]}")

    def start(self) -> int:
        """Start in the foreground (-DD) of a new session as the kamailio user; wait until its
        control socket answers. Returns the main process's pid."""
        self.check_config()
        with open(self.log, "ab") as out:
            proc = subprocess.Popen(
                [KAMAILIO_BIN, "-f", str(self.cfg), "-DD", "-E", "-u", RUN_USER, "-g", RUN_USER,
                 "-m", "64", "-M", "8"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=self.dir)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise KamailioError(f"kamailio exited with {proc.returncode}; see {self.log}")
            if self.rpc("core.uptime") is not None:
                return proc.pid
            time.sleep(0.1)
        raise KamailioError(f"kamailio did not answer on {self.ctl_socket} within 20 s; see {self.log}")

    def rpc(self, *command: str) -> str | None:
        """A kamcmd RPC over the control socket; None when Kamailio does not answer."""
        if not shutil.which(KAMCMD_BIN) or not self.ctl_socket.exists():
            return None
        try:
            res = subprocess.run([KAMCMD_BIN, "-s", f"unix:{self.ctl_socket}", *command],
                                 capture_output=True, text=True, check=False, timeout=5)
        except subprocess.TimeoutExpired:
            return None
        return res.stdout if res.returncode == 0 else None

    def set_node_state(self, uri: str, state: str) -> bool:
        """The dispatcher's state of one node (`dispatcher.set_state`): "d" disabled (no
        calls, no probing: a node starting or draining), "ap" active and probed again."""
        return self.rpc("dispatcher.set_state", state, str(NODE_SET), uri) is not None

    def node_states(self) -> dict[str, str]:
        """The dispatcher's view of each node (by address): "up" (active), "down" (inactive or
        probing after failures), as `dispatcher.list` shows its FLAGS (AP, IP, TP, ...)."""
        out = self.rpc("dispatcher.list") or ""
        states: dict[str, str] = {}
        uri = None
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("URI:"):
                uri = line.split(":", 1)[1].strip()
            elif line.startswith("FLAGS:") and uri:
                flags = line.split(":", 1)[1].strip()
                states[uri.removeprefix("sip:")] = "up" if flags.startswith("A") else "down"
                uri = None
        return states
