"""The PostgreSQL the cluster's nodes share: Debian's postgresql-15 binaries, a data directory
under the cluster's state directory, listening on the bridge address (the nodes' namespaces
reach it there) and on a unix socket only root and its own user can open.

Two login roles, each with a generated password (scram-sha-256): the nodes' owner role
(`hotline`, the schema's owner) and `kamailio`, which may read one view only: operators'
extensions and HA1 digests (`KAMAILIO_VIEW`), never the SIP passwords themselves.
"""

from __future__ import annotations

import os
import pwd
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from callrouting.presence_cluster import REGISTRATIONS_CHANNEL  # the nodes listen there

PG_BIN = Path(os.environ.get("HOTLINE_CLUSTER_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "hotline-pg"  # the system user the server runs as (postgres refuses root)
ADMIN = "hladmin"  # superuser, over the unix socket only
OWNER = "hotline"
KAMAILIO_ROLE = "kamailio"
DATABASE = "hotline"
KAMAILIO_VIEW = "kamailio_subscriber"
LOCATION_TABLE = "location"  # Kamailio's usrloc table (db_mode 1: every registration written)
LOCATION_SCHEMA = Path("/usr/share/kamailio/postgres/usrloc-create.sql")  # kamailio-postgres-modules
PORT = 5432


class PostgresError(Exception):
    pass


@dataclass
class ClusterPostgres:
    dir: Path  # data/, the socket, the log
    address: str  # the bridge address
    subnet: str
    port: int = PORT

    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def pidfile(self) -> Path:
        return self.data / "postmaster.pid"

    def url(self, password: str, *, driver: str = "postgresql+asyncpg", role: str = OWNER) -> str:
        return f"{driver}://{role}:{password}@{self.address}:{self.port}/{DATABASE}"

    def _user(self) -> tuple[int, int]:
        try:
            pw = pwd.getpwnam(PG_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                            "--shell", "/usr/sbin/nologin", "--user-group", PG_USER],
                           capture_output=True, check=True)
            pw = pwd.getpwnam(PG_USER)
        return pw.pw_uid, pw.pw_gid

    def _as_pg(self) -> dict[str, object]:
        uid, gid = self._user()
        return {"user": uid, "group": gid, "extra_groups": [], "umask": 0o077,
                "env": {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": "/nonexistent"}}

    def init(self) -> None:
        """initdb once; the access rules: the admin over the socket, the two roles over TCP
        from the cluster's subnet, with passwords."""
        uid, gid = self._user()
        for parent in self.dir.resolve().parents:  # the server's user must reach its directory
            if parent.exists() and not parent.stat().st_mode & 0o001:
                raise PostgresError(f"{parent} is closed to other users (mode "
                                    f"{parent.stat().st_mode & 0o777:o}): PostgreSQL runs as "
                                    f"{PG_USER} and cannot reach {self.dir}; choose a state "
                                    "directory under a traversable path")
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chown(self.dir, uid, gid)
        self.dir.chmod(0o700)
        if not (self.data / "PG_VERSION").exists():
            res = subprocess.run(
                [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", ADMIN, "--auth-local=trust",
                 "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-instructions"],
                capture_output=True, text=True, check=False, cwd=self.dir, **self._as_pg())
            if res.returncode != 0:
                raise PostgresError(f"initdb: {res.stderr.strip()}")
        hba = (f"local all {ADMIN} trust\n"
               f"host {DATABASE} {OWNER} {self.subnet} scram-sha-256\n"
               f"host {DATABASE} {KAMAILIO_ROLE} {self.address}/32 scram-sha-256\n")
        (self.data / "pg_hba.conf").write_text(hba)

    def running_pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().split()[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError, IndexError):
            return None

    def start(self, log: Path) -> int:
        pid = self.running_pid()
        if pid is not None:
            return pid
        with open(log, "ab") as out:
            subprocess.Popen(
                [str(PG_BIN / "postgres"), "-D", str(self.data), "-k", str(self.dir),
                 "-p", str(self.port), "-c", f"listen_addresses={self.address}",
                 "-c", "max_connections=200", "-c", "password_encryption=scram-sha-256"],
                stdout=out, stderr=subprocess.STDOUT, cwd=self.dir, start_new_session=True,
                **self._as_pg())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = subprocess.run([str(PG_BIN / "pg_isready"), "-q", "-h", str(self.dir), "-p",
                                    str(self.port), "-U", ADMIN, "-d", "postgres"], check=False)
            if ready.returncode == 0 and (pid := self.running_pid()):
                return pid
            time.sleep(0.1)
        raise PostgresError(f"PostgreSQL did not start within 30 s; see {log}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT), by the pid the server wrote."""
        pid = self.running_pid()
        if pid is None:
            return
        os.kill(pid, 2)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.1)  # the process itself gone, not only its pid file

    def sql(self, statement: str, database: str = "postgres", variables: dict[str, str] | None = None) -> str:
        """Run SQL as the admin; `variables` are psql variables (use them quoted, :'name')."""
        cmd = [str(PG_BIN / "psql"), "-h", str(self.dir), "-p", str(self.port), "-U", ADMIN,
               "-d", database, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        for k, v in (variables or {}).items():
            cmd += ["-v", f"{k}={v}"]
        res = subprocess.run(cmd, input=statement, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise PostgresError(f"psql: {res.stderr.strip()}")
        return res.stdout.strip()

    def ensure_roles(self, owner_password: str, kamailio_password: str) -> None:
        """The database and the two roles (passwords set anew each time: they live in the
        cluster's state only)."""
        for role, pw in ((OWNER, owner_password), (KAMAILIO_ROLE, kamailio_password)):
            exists = self.sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'")
            verb = "ALTER" if exists else "CREATE"
            self.sql(f"{verb} ROLE {role} LOGIN PASSWORD :'pw'", variables={"pw": pw})
        if not self.sql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"):
            self.sql(f"CREATE DATABASE {DATABASE} OWNER {OWNER}")
        self.sql(f"REVOKE ALL ON DATABASE {DATABASE} FROM PUBLIC; "
                 f"GRANT CONNECT ON DATABASE {DATABASE} TO {OWNER}, {KAMAILIO_ROLE}")

    def ensure_kamailio_view(self, realm: str) -> None:
        """The view Kamailio's auth_db reads (after the migrations made `operators`): active
        operators' extensions and HA1 = MD5(extension:realm:password). It runs with its owner's
        rights, so the kamailio role reads it without any right on `operators`."""
        self.sql(
            f"SET ROLE {OWNER};\n"
            f"CREATE OR REPLACE VIEW {KAMAILIO_VIEW} AS\n"
            f"  SELECT extension AS username, md5(extension || ':' || :'realm' || ':' || sip_password)"
            f" AS ha1\n  FROM operators WHERE active;\n"
            f"REVOKE ALL ON {KAMAILIO_VIEW} FROM PUBLIC;\n"
            f"GRANT SELECT ON {KAMAILIO_VIEW} TO {KAMAILIO_ROLE};\n",
            database=DATABASE, variables={"realm": realm})

    def ensure_kamailio_location(self) -> None:
        """Kamailio's `location` table (its own schema, from the package's SQL) for usrloc in
        db_mode 1, so every node sees who is registered (decision 0010): the kamailio role
        writes it, the nodes' role reads it, and a trigger NOTIFYs the extension on every
        change (registered, re-registered, expired or unregistered)."""
        self.sql(location_sql(), database=DATABASE)


def location_sql(owner: str = OWNER, writer: str | None = KAMAILIO_ROLE) -> str:
    """SQL that makes the `location` table (if missing) and its NOTIFY trigger."""
    create = _location_create()
    grants = (f"GRANT SELECT, INSERT, UPDATE, DELETE ON {LOCATION_TABLE} TO {writer};\n"
              f"GRANT USAGE ON SEQUENCE {LOCATION_TABLE}_id_seq TO {writer};\n") if writer else ""
    return (
        f"SET ROLE {owner};\n"
        f"DO $$ BEGIN IF to_regclass('{LOCATION_TABLE}') IS NULL THEN\n{create}\nEND IF; END $$;\n"
        f"{grants}"
        "CREATE OR REPLACE FUNCTION hotline_location_notify() RETURNS trigger LANGUAGE plpgsql AS $f$\n"
        "BEGIN\n"
        "  IF TG_OP IN ('UPDATE', 'DELETE') THEN\n"
        f"    PERFORM pg_notify('{REGISTRATIONS_CHANNEL}', OLD.username);\n"
        "  END IF;\n"
        "  IF TG_OP IN ('INSERT', 'UPDATE') THEN\n"
        f"    PERFORM pg_notify('{REGISTRATIONS_CHANNEL}', NEW.username);\n"
        "  END IF;\n"
        "  RETURN NULL;\n"
        "END $f$;\n"
        f"DROP TRIGGER IF EXISTS hotline_location_notify ON {LOCATION_TABLE};\n"
        f"CREATE TRIGGER hotline_location_notify AFTER INSERT OR UPDATE OR DELETE ON {LOCATION_TABLE}\n"
        "  FOR EACH ROW EXECUTE FUNCTION hotline_location_notify();\n"
    )


def _location_create() -> str:
    """The package's CREATE TABLE/INDEX statements for `location` (not its `version` rows:
    usrloc runs with version_table 0, like auth_db)."""
    statements = [st.strip() for st in LOCATION_SCHEMA.read_text().split(";")]
    keep = [st for st in statements if st.startswith("CREATE TABLE location (")
            or (st.startswith("CREATE INDEX location_") and " ON location (" in st)]
    if not any(st.startswith("CREATE TABLE location (") for st in keep):
        raise PostgresError(f"no CREATE TABLE location in {LOCATION_SCHEMA}")
    return "\n".join(st + ";" for st in keep)


def new_password() -> str:
    return secrets.token_urlsafe(24)
