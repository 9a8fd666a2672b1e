"""The local Asterisk 22: provision its root, write its configuration, start and stop it.

Asterisk comes from Debian sid (Debian 12 has none) in a debootstrap root that is cached
as a tarball outside the repository and rebuilt when missing.  Several instances (the
`make run` one, the test suite's) share one root; each has its own configuration,
sockets, logs and spool under `<root>/srv/hotline/<instance>/` and its own ports.
"""

from __future__ import annotations

import fcntl
import grp
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from hotline.paths import PROJECT_ROOT
from hotline.pbx.agi import KEY_FILE, KEY_VARIABLE
from hotline.pbx.confvalues import check_extension, check_operator_name, check_sip_password
from hotline.pbx.settings import AsteriskSettings, ServiceSettings


class PbxSettings(Protocol):
    """What provisioning reads of the service settings (hotline.app.settings.Settings has it)."""

    @property
    def asterisk(self) -> AsteriskSettings: ...

    @property
    def service(self) -> ServiceSettings: ...


TEMPLATES = PROJECT_ROOT / "asterisk" / "templates"
ASTERISK_BIN = "/usr/sbin/asterisk"
# music on hold: the opsound set as WAV (8 kHz slin, no transcoding codec needed), played from
# /usr/share/asterisk/moh by musiconhold.conf's `default` class
DEBOOTSTRAP_PACKAGES = "asterisk,asterisk-core-sounds-en-wav,asterisk-moh-opsound-wav"

NOLOAD = [
    # listeners or hardware the hotline does not use
    "chan_iax2.so", "chan_unistim.so", "chan_motif.so", "chan_console.so", "pbx_dundi.so",
    "res_xmpp.so", "res_snmp.so", "res_hep.so", "res_hep_pjsip.so", "res_hep_rtcp.so",
    "res_statsd.so", "res_prometheus.so", "res_phoneprov.so", "res_pjsip_phoneprov_provider.so",
    "res_stun_monitor.so", "res_resolver_unbound.so", "app_jack.so", "app_festival.so",
    "res_fax_spandsp.so", "app_sms.so", "app_alarmreceiver.so", "app_adsiprog.so",
    "app_getcpeid.so", "res_adsi.so", "res_smdi.so", "pbx_lua.so", "app_minivm.so",
    "res_stir_shaken.so", "res_pjsip_stir_shaken.so", "res_aeap.so", "res_speech_aeap.so",
    "res_websocket_client.so", "chan_websocket.so", "res_pjsip_transport_websocket.so",
    "res_config_ldap.so", "res_config_pgsql.so", "res_config_odbc.so", "res_config_curl.so",
    "res_config_sqlite3.so", "res_odbc.so", "res_odbc_transaction.so", "func_odbc.so",
    "app_voicemail_odbc.so", "res_calendar.so", "res_calendar_caldav.so", "res_calendar_ews.so",
    "res_calendar_exchange.so", "res_calendar_icalendar.so", "res_mwi_devstate.so",
    "cdr_adaptive_odbc.so", "cdr_odbc.so", "cdr_pgsql.so", "cdr_radius.so", "cdr_tds.so",
    "cdr_sqlite3_custom.so", "cel_odbc.so", "cel_pgsql.so", "cel_radius.so",
    "cel_tds.so", "cel_sqlite3_custom.so", "cel_custom.so",
    "res_http_media_cache.so", "func_curl.so", "res_ari.so", "res_ari_applications.so",
    "res_ari_asterisk.so", "res_ari_bridges.so", "res_ari_channels.so", "res_ari_device_states.so",
    "res_ari_endpoints.so", "res_ari_events.so", "res_ari_model.so", "res_ari_playbacks.so",
    "res_ari_recordings.so", "res_ari_sounds.so", "app_agent_pool.so", "app_voicemail.so",
    "res_parking.so", "app_amd.so", "res_clialiases.so", "res_pjsip_geolocation.so",
    "res_geolocation.so", "res_pjsip_config_wizard.so", "res_crypto.so", "app_stasis.so",
    "res_stasis.so", "res_stasis_answer.so", "res_stasis_broadcast.so", "app_stasis_broadcast.so",
    "res_stasis_device_state.so", "res_stasis_playback.so", "res_stasis_recording.so",
    "res_stasis_snoop.so", "res_stasis_test.so", "func_aes.so", "cdr_csv.so", "pbx_ael.so",
    # same-codec bridges would relay RTP around the core and hide DTMF from AMI
    "bridge_native_rtp.so",
]

STUB_CONFIGS = {
    "cdr_manager.conf": "[general]\nenabled = yes\n",
    "cel.conf": "[general]\nenable = no\n",
    "followme.conf": "[general]\n",
    "confbridge.conf": "[general]\n",
    "musiconhold.conf": "[general]\n\n[default]\nmode = files\ndirectory = /usr/share/asterisk/moh\n",
    "features.conf": "[general]\n",
    "http.conf": "[general]\nenabled = no\n",
    "ari.conf": "[general]\nenabled = no\n",
    "cli.conf": "[startup_commands]\n",
    "acl.conf": "",
    "pjproject.conf": "",
    "pjsip_notify.conf": "",
}
COPIED_STOCK = ["indications.conf", "codecs.conf", "ccss.conf", "udptl.conf"]
# Rendered from the operator directory: rewritten and reloaded when the directory changes.
DIRECTORY_TEMPLATES = ("pjsip.conf.j2", "queues.conf.j2", "queuerules.conf.j2")
OVERFLOW_RULE = "hotline-overflow"  # queuerules.conf: widens the pool to penalty 2 members
# secrets (AMI secret, SIP passwords, the FastAGI key): readable by their writer (the
# service) and Asterisk's group only, never by other users
PRIVATE_CONFIGS = {"manager.conf", "pjsip.conf", KEY_FILE}
PRIVATE_MODE = 0o640

# Asterisk drops to this user and group of its root before it loads a module; `asterisk.conf`
# says so (runuser/rungroup) and gives them the control socket. Not the package's `asterisk`
# (uid 101): chroot shares user ids with the host, where 101 is some other account (postgres
# on these machines), which could then signal Asterisk and read its files. `ensure_run_user`
# adds this one to the root with ids that no host account or group has.
RUN_USER = RUN_GROUP = "hotline-asterisk"
RUN_IDS = range(65700, 66700)  # above Debian's ranges for system and normal accounts
# Directories Asterisk writes (socket, logs, spool, astdb, cache, recordings): its own, with
# the group's write (setgid: files made there keep the group, so the service in the group
# can read and delete recordings). The service writes etc/ and sounds/, Asterisk only reads
# them: group read, no write, so Asterisk cannot change its own configuration.
ASTERISK_WRITES = ("run", "log", "spool", "lib", "cache", "recordings")
SERVICE_WRITES = ("etc", "sounds")

# What the service's AMI user may do: nothing more than the service asks for. Action
# privileges are Asterisk 22's (main/manager.c, res/res_pjsip/*, apps/app_queue.c); an action
# is allowed when the user's write classes meet any class the action is registered with.
#   Login, Logoff, Ping, QueueReload (class 0: any logged-in user)
#   CoreSettings (system|reporting), DeviceStateList (call|reporting) -> reporting
# Events read: ContactStatus, FullyBooted (system); DeviceStateChange, DialBegin, DialEnd
# (call); AgentCalled, AgentConnect (agent). Never write command (Command: the CLI, `!` is a
# shell), config (UpdateConfig, GetConfig of manager.conf), system (MixMonitor's Command runs
# a shell, ModuleLoad, DBPut) or originate (dialplan applications on demand). The pjsip reload
# needs system or config over AMI, so it goes through the control socket instead
# (hotline.pbx.console), whose file permissions admit Asterisk's group only.
# dtmf (read only): keys a caller presses while waiting in Queue() (the callback offer,
# docs/decisions/0008); QueueWithdrawCaller, which takes them out once they confirm, is class 0.
AMI_READ = ("system", "call", "agent", "dtmf")
AMI_WRITE = ("reporting",)

# Asterisk's own call records (cdr_custom), read by the service's reconciliation on start
CDR_FILE = "hotline-cdr.csv"

Progress = Callable[[str], None]


class AsteriskError(Exception):
    """Asterisk could not be provisioned, configured or started; the message says why."""


def _print_progress(msg: str) -> None:
    print(f"[asterisk] {msg}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Operator:
    extension: str
    name: str
    password: str


@dataclass(frozen=True)
class PoolParams:
    """How the pool queue rings (the service takes them from the active dialplan's `queue:`).

    With `overflow_after`, members listed in `penalties` with 2 ring only for callers who
    waited that long (rule OVERFLOW_RULE; the service sets QUEUE_MAX_PENALTY=1 on callers)."""

    wrapup: int = 0
    penalties: Mapping[str, int] = field(default_factory=dict)
    overflow_after: int | None = None


# --- the root ----------------------------------------------------------------------------------


def root_ready(root: Path) -> bool:
    """Asterisk is there with every package of DEBOOTSTRAP_PACKAGES (a root or cache made before a
    package joined the list lacks it)."""
    return (root / ASTERISK_BIN.lstrip("/")).exists() and not missing_packages(root)


def missing_packages(root: Path) -> list[str]:
    """Packages of DEBOOTSTRAP_PACKAGES that the root's dpkg does not list as installed."""
    try:
        status = (root / "var/lib/dpkg/status").read_text(errors="replace")
    except OSError:
        return DEBOOTSTRAP_PACKAGES.split(",")
    installed = {
        m.group(1) for m in re.finditer(r"^Package: (\S+)\n(?:[^\n]+\n)*?Status: install ok installed$",
                                        status, re.MULTILINE)
    }
    return [p for p in DEBOOTSTRAP_PACKAGES.split(",") if p not in installed]


def _add_packages(root: Path, progress: Progress) -> None:
    """Install what a root made from an older package list lacks, in place (apt-get in the root)."""
    missing = missing_packages(root)
    progress(f"adding {', '.join(missing)} to {root}")
    # the machine's clock may run past the Release file's Valid-Until of the package mirror
    _run(["chroot", str(root), "apt-get", "-q", "-o", "Acquire::Check-Valid-Until=false", "update"])
    _run(["chroot", str(root), "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-y",
          "--no-install-recommends", "install", *missing])
    _run(["chroot", str(root), "apt-get", "clean"])


def provision_root(root: Path, cache: Path, progress: Progress = _print_progress) -> Path:
    """Make sure `root` holds a Debian sid root with Asterisk; restore or build the cache.

    Several processes may ask at once (parallel test workers, `make run` beside a test run):
    one builds or restores while the others wait on a lock beside the root, then find it ready.
    """
    if root_ready(root):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _provision_root_locked(root, cache, progress)


def _provision_root_locked(root: Path, cache: Path, progress: Progress) -> Path:
    if root_ready(root):
        return root
    if (root / ASTERISK_BIN.lstrip("/")).exists():
        # an older package list: add the packages in place (instances running in the root keep
        # going); a cache that lacks them is repacked at its next restore
        _add_packages(root, progress)
        if not root_ready(root):
            raise AsteriskError(f"{root} still lacks {', '.join(missing_packages(root))}")
        return root
    if not cache.exists():
        build_cache(cache, progress)
    progress(f"restoring {root} from {cache}")
    t0 = time.monotonic()
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".restore-", dir=root.parent))
    try:
        _run(["tar", "--numeric-owner", "-I", "zstd", "-xf", str(cache), "-C", str(tmp)])
        if root.exists():
            shutil.rmtree(root)
        (tmp / "root").rename(root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not (root / ASTERISK_BIN.lstrip("/")).exists():
        raise AsteriskError(f"{cache} does not contain an Asterisk root; delete it to rebuild")
    if missing_packages(root):
        # a cache from an older package list: complete the fresh root, and pack it again so the
        # next restore has everything
        _add_packages(root, progress)
        progress(f"repacking {cache} with the added packages")
        partial = cache.with_suffix(".partial")
        _run(["tar", "--numeric-owner", "-I", "zstd -T0 -3", "-cf", str(partial), "-C",
              str(root.parent), f"--transform=s,^{root.name},root,", root.name])
        partial.rename(cache)
    progress(f"restored in {time.monotonic() - t0:.1f}s")
    return root


def build_cache(cache: Path, progress: Progress = _print_progress) -> None:
    """debootstrap a Debian sid root with Asterisk and pack it into `cache` (~1-2 min)."""
    if shutil.which("debootstrap") is None or shutil.which("zstd") is None:
        raise AsteriskError("debootstrap and zstd are needed: run `make deps` (apt-get install debootstrap zstd)")
    cache.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=cache.parent))
    try:
        target = work / "root"
        progress(f"building a Debian sid root with Asterisk 22 in {target} (debootstrap, ~1-2 min)")
        t0 = time.monotonic()
        cmd = ["debootstrap", "--variant=minbase", f"--include={DEBOOTSTRAP_PACKAGES}", "sid", str(target)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        counts = {"Retrieving": 0, "Validating": 0, "Extracting": 0, "Unpacking": 0, "Configuring": 0}
        last = 0.0
        for line in proc.stdout:
            line = line.rstrip()
            for key in counts:
                if line.startswith(f"I: {key}"):
                    counts[key] += 1
            now = time.monotonic()
            if line.startswith(("I: Base system", "E:", "W:")) or now - last > 3:
                last = now
                summary = " ".join(f"{k.lower()}={v}" for k, v in counts.items() if v)
                progress(f"{now - t0:5.0f}s {summary} | {line[:100]}")
        if proc.wait() != 0:
            raise AsteriskError(f"debootstrap failed (exit {proc.returncode}); see the lines above")
        (target / "etc" / "hosts").write_text("127.0.0.1 localhost\n::1 localhost\n")
        _run(["chroot", str(target), "apt-get", "clean"])
        progress(f"packing {cache}")
        tmp_cache = cache.with_suffix(".partial")
        _run(["tar", "--numeric-owner", "-I", "zstd -T0 -3", "-cf", str(tmp_cache), "-C", str(work), "root"])
        tmp_cache.rename(cache)
        progress(f"cache ready in {time.monotonic() - t0:.0f}s: {cache}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(cmd: list[str]) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise AsteriskError(f"{' '.join(cmd[:3])} failed: {res.stderr.strip()[-500:]}")


# --- an instance -------------------------------------------------------------------------------


class AsteriskInstance:
    """One configured Asterisk process inside the shared root."""

    def __init__(self, settings: PbxSettings):
        self.settings = settings
        self.root = settings.asterisk.root
        self.name = settings.asterisk.instance
        self.inside = f"/srv/hotline/{self.name}"  # path as Asterisk sees it
        self.dir = self.root / self.inside.lstrip("/")  # path as we see it
        self.proc: subprocess.Popen[bytes] | None = None
        self.owned = False  # started by this object (start()): only then stop_if_owned stops it
        self.pool = PoolParams()  # queues.conf wrap-up and penalties, queuerules.conf overflow

    # paths the service shares with Asterisk
    @property
    def sounds_dir(self) -> Path:
        return self.dir / "sounds"

    @property
    def recordings_dir(self) -> Path:
        return self.dir / "recordings"

    @property
    def control_socket(self) -> Path:
        """asterisk.ctl (astrundir): what `asterisk -r` and hotline.pbx.console connect to."""
        return self.dir / "run" / "asterisk.ctl"

    @property
    def log_file(self) -> Path:
        return self.dir / "log" / "console.log"

    @property
    def cdr_file(self) -> Path:
        """Asterisk's call records (cdr_custom.conf), one CSV line per CDR."""
        return self.dir / "log" / "cdr-custom" / CDR_FILE

    @property
    def sound_dirs(self) -> tuple[Path, ...]:
        """Where `file:` prompts are looked up (host paths): Asterisk's sound set and ours.

        The root's `sounds/en` is an absolute symlink (meaningful inside the chroot only), so
        the directory it points to is given instead."""
        base = self.root / "usr/share/asterisk/sounds"
        dirs = [self.sounds_dir]
        for lang in sorted(base.glob("*")) if base.is_dir() else []:
            if lang.is_symlink():
                target = Path(os.readlink(lang))
                lang = self.root / str(target).lstrip("/") if target.is_absolute() else lang.resolve()
            if lang.is_dir():
                dirs.append(lang)
        return tuple(dirs)

    def to_inside(self, path: Path) -> str:
        """A host path under the root as Asterisk sees it."""
        return "/" + str(path.resolve().relative_to(self.root.resolve()))

    def check_root(self) -> None:
        if not root_ready(self.root):
            raise AsteriskError(
                f"no Asterisk root at {self.root}: run `make run` or `hotline asterisk provision` "
                f"(it restores {self.settings.asterisk.cache} or builds it with debootstrap)"
            )

    def _context(self, operators: Iterable[Operator], ami_secret: str | None,
                 agi_secret: str | None = None) -> dict[str, object]:
        """What every template sees; `ami_secret` or `agi_secret` None renders only templates that
        don't use them."""
        a, s = self.settings.asterisk, self.settings.service
        ops = list(operators)
        for o in ops:
            _check_operator(o)
        ctx: dict[str, object] = dict(
            inst=self.inside, instance=self.name, noload=NOLOAD, ami_port=a.ami_port,
            ami_user=a.ami_user, sip_port=a.sip_port, sip_host=a.sip_host,
            sip_proxy=a.sip_proxy, sip_proxy_host=(a.sip_proxy or "").rpartition(":")[0],
            rtp_start=a.rtp_start, rtp_end=a.rtp_end, operators=ops, test_caller=bool(a.test_caller),
            pool_queue=a.pool_queue, hotline_extension=a.hotline_extension,
            callback_contact=a.callback_contact,
            agi_host=s.host, agi_port=s.agi_port, agi_key_variable=KEY_VARIABLE,
            audiosocket_port=s.audiosocket_port,
            agi_first_answer_timeout=f"{a.agi_first_answer_timeout:g}", cdr_file=CDR_FILE,
            ami_read=",".join(AMI_READ), ami_write=",".join(AMI_WRITE),
            run_user=RUN_USER, run_group=RUN_GROUP,
            pool_wrapup=int(self.pool.wrapup), pool_penalties=dict(self.pool.penalties),
            pool_overflow_after=self.pool.overflow_after, pool_overflow_rule=OVERFLOW_RULE,
        )
        if ami_secret is not None:
            _check_conf_value(ami_secret, "AMI secret")
            ctx["ami_secret"] = ami_secret
        if agi_secret is not None:
            _check_conf_value(agi_secret, "FastAGI secret")
            ctx["agi_secret"] = agi_secret
        return ctx

    def _render(self, names: Iterable[str], ctx: Mapping[str, object]) -> None:
        """Render templates into etc/, each through a temporary file so a reload never reads half."""
        env = Environment(
            loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined, keep_trailing_newline=True
        )
        etc = self.dir / "etc"
        for name in names:
            target = etc / name.removesuffix(".j2")
            text = env.get_template(name).render(**ctx)
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.unlink(missing_ok=True)  # created anew so that its mode is the one given here
            mode = PRIVATE_MODE if target.name in PRIVATE_CONFIGS else 0o644
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode & 0o600)
            with os.fdopen(fd, "w") as f:
                # group (Asterisk's) and its read bit set before a byte is written
                self._give_group(f.fileno())
                os.fchmod(f.fileno(), mode)
                f.write(text)
            tmp.replace(target)

    # --- who owns what -------------------------------------------------------------------

    def run_ids(self) -> tuple[int, int]:
        """(uid, gid) of `RUN_USER` and `RUN_GROUP` as the root's own passwd and group say."""
        uid = _id_in(self.root / "etc" / "passwd", RUN_USER)
        gid = _id_in(self.root / "etc" / "group", RUN_GROUP)
        if uid is None or gid is None:
            raise AsteriskError(
                f"the Asterisk root {self.root} has no user/group {RUN_USER!r}: run `make run` or "
                "`hotline asterisk provision` as root (hotline.pbx.asterisk.ensure_run_user adds it)"
            )
        for table, getter, value in (("user", pwd.getpwuid, uid), ("group", grp.getgrgid, gid)):
            try:
                host = getter(value)[0]
            except KeyError:
                continue
            raise AsteriskError(
                f"{RUN_USER}'s {table} id {value} in {self.root} is the host's {table} {host!r}: "
                f"Asterisk would share its rights; remove the {RUN_USER} lines from the root's "
                "etc/passwd and etc/group and start again as root to choose free ids"
            )
        return uid, gid

    def _give_group(self, fd: int) -> None:
        """Hand a file the service writes to Asterisk's group (when the service may)."""
        if os.geteuid() == 0:
            os.fchown(fd, -1, self.run_ids()[1])

    def ensure_run_user(self) -> None:
        """Add `RUN_USER`/`RUN_GROUP` to the root (as root), with ids free on host and root."""
        if _id_in(self.root / "etc" / "passwd", RUN_USER) is not None or os.geteuid() != 0:
            return
        used = _ids(self.root / "etc" / "passwd") | _ids(self.root / "etc" / "group")
        free = next((i for i in RUN_IDS if i not in used and not _host_has(i)), None)
        if free is None:
            raise AsteriskError(f"no id in {RUN_IDS.start}-{RUN_IDS.stop - 1} is free for {RUN_USER}")
        with (self.root / "etc" / "group").open("a") as f:
            f.write(f"{RUN_GROUP}:x:{free}:\n")
        with (self.root / "etc" / "passwd").open("a") as f:
            f.write(f"{RUN_USER}:x:{free}:{free}:Hotline Asterisk:/nonexistent:/usr/sbin/nologin\n")

    def prepare_dirs(self) -> None:
        """The instance's directories with the owners and modes Asterisk needs as `RUN_USER`.

        As root (tests, `make run`) everything Asterisk writes is handed to it, including
        what an earlier root-run Asterisk left there; otherwise the directories must already
        be set up so (the service's user then belongs to Asterisk's group)."""
        root = os.geteuid() == 0
        if root:
            self.ensure_run_user()
        uid, gid = self.run_ids() if root else (-1, -1)
        for sub in (*SERVICE_WRITES, *ASTERISK_WRITES):
            d = self.dir / sub
            d.mkdir(parents=True, exist_ok=True)
            if not root:
                continue
            if sub in ASTERISK_WRITES:
                for path in (d, *d.rglob("*")):
                    os.chown(path, uid, gid, follow_symlinks=False)
                    if path.is_dir() and not path.is_symlink():
                        path.chmod(0o2770)
            elif sub == "etc":
                os.chown(d, -1, gid)
                d.chmod(0o2750)
            else:  # sounds: what an earlier run wrote for a root Asterisk, readable by this one
                for path in (d, *d.rglob("*")):
                    os.chown(path, -1, gid, follow_symlinks=False)
                    if path.is_symlink():
                        continue
                    mode = stat.S_IMODE(path.lstat().st_mode)
                    path.chmod(0o2755 if path.is_dir() else mode | 0o040)

    def write_config(self, operators: Iterable[Operator], ami_secret: str, agi_secret: str) -> None:
        """All configuration; `agi_secret` is the key the service asks Asterisk for (it serves no
        FastAGI session without it), kept in its own private file (`KEY_FILE`)."""
        self.check_root()
        # cdr_custom does not create its directory: made first, so that prepare_dirs hands it
        # to Asterisk's user with the rest of log/
        self.cdr_file.parent.mkdir(parents=True, exist_ok=True)
        self.prepare_dirs()
        self._render([tpl.name for tpl in TEMPLATES.glob("*.j2")],
                     self._context(operators, ami_secret, agi_secret))
        etc = self.dir / "etc"
        for name, text in STUB_CONFIGS.items():
            (etc / name).write_text(text)
        for name in COPIED_STOCK:
            stock = self.root / "etc" / "asterisk" / name
            if stock.exists():
                shutil.copyfile(stock, etc / name)

    def write_directory_config(self, operators: Iterable[Operator]) -> None:
        """Rewrite only what the directory decides (endpoints, queue members), for a reload."""
        self.check_root()
        self._render(DIRECTORY_TEMPLATES, self._context(operators, None))

    def _cmd(self, *args: str) -> list[str]:
        return ["chroot", str(self.root), ASTERISK_BIN, "-C", f"{self.inside}/etc/asterisk.conf", *args]

    def rx(self, command: str, timeout: float = 10) -> str:
        res = subprocess.run(self._cmd("-rx", command), capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            raise AsteriskError(f"asterisk -rx {command!r}: {(res.stderr or res.stdout).strip()}")
        return res.stdout

    def running(self) -> bool:
        try:
            self.rx("core show version", timeout=5)
            return True
        except (AsteriskError, subprocess.TimeoutExpired):
            return False

    def start(self, timeout: float = 30) -> bool:
        """Start Asterisk in the foreground of a new session and wait until fully booted.

        An Asterisk already running on this instance is left running (it may carry live
        calls: the service's lifecycle is not Asterisk's) and reloads the configuration just
        written instead; returns False then. `owned` says whether this object started it, and
        only then may `stop_if_owned` stop it.
        """
        self.check_root()
        if self.running():
            self.rx("core reload")
            self.owned = False
            return False
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_file, "ab")
        try:
            self.proc = subprocess.Popen(
                self._cmd("-f", "-n", "-vvv"), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()
        self.owned = True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AsteriskError(f"Asterisk exited with {self.proc.returncode}; see {self.log_file}")
            try:
                out = self.rx("core waitfullybooted", timeout=5)
                if "fully booted" in out.lower():
                    return True
            except (AsteriskError, subprocess.TimeoutExpired):
                pass
            time.sleep(0.2)
        self.stop()
        raise AsteriskError(f"Asterisk did not boot within {timeout}s; see {self.log_file}")

    def foreground_command(self) -> list[str]:
        """The command that runs this instance in the foreground (a systemd unit's ExecStart)."""
        return self._cmd("-f", "-n")

    def reload(self, what: str = "") -> None:
        self.rx(f"{what} reload".strip() if what else "core reload")

    def stop_if_owned(self, timeout: float = 10) -> bool:
        """Stop Asterisk only if `start()` started it; True if it did."""
        if not self.owned:
            return False
        self.stop(timeout)
        return True

    def stop(self, timeout: float = 10) -> None:
        """Stop this instance now (its calls end): `hotline asterisk stop`, tests, `make run`."""
        self.owned = False
        try:
            self.rx("core stop now", timeout=5)
        except (AsteriskError, subprocess.TimeoutExpired):
            pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self.proc = None


def _id_in(table: Path, name: str) -> int | None:
    """The numeric id of `name` in a passwd or group file (name:x:id:...), None if absent."""
    try:
        lines = table.read_text().splitlines()
    except FileNotFoundError:
        return None
    for line in lines:
        fields = line.split(":")
        if len(fields) > 2 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    return None


def _ids(table: Path) -> frozenset[int]:
    fields = (line.split(":") for line in table.read_text().splitlines())
    return frozenset(int(f[2]) for f in fields if len(f) > 2 and f[2].isdigit())


def _host_has(i: int) -> bool:
    for getter in (pwd.getpwuid, grp.getgrgid):
        try:
            getter(i)
            return True
        except KeyError:
            pass
    return False


def _check_operator(o: Operator) -> None:
    """Refuse an operator the directory's rules refuse (hotline.pbx.confvalues, the same
    functions directory.validation uses): the directory file and the admin API should have
    stopped it already, so this only guards the config files against rows that got past them."""
    try:
        check_extension(o.extension)
        check_operator_name(o.name)
        check_sip_password(o.password)
    except ValueError as exc:
        raise AsteriskError(f"operator {o.extension!r} cannot go into Asterisk configuration: {exc}") from None


def _check_conf_value(value: str, what: str) -> None:
    """Refuse values that could break out of an Asterisk config line (the value is a secret:
    the message does not show it)."""
    if not value or any(c in value for c in "\r\n;[]\"\\") or value != value.strip():
        raise AsteriskError(f"{what} cannot go into Asterisk configuration")
