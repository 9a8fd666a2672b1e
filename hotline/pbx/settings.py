"""Settings of the PBX ground: where the local Asterisk lives, how the service talks to it, and
the ports the service listens on. `hotline.app.settings.Settings` embeds them."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr, field_validator


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hotline"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


NODE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


def default_node_name() -> str:
    """The host's name (a node of a cluster is named for its host), "local" if it has none fit
    to be a node name."""
    name = socket.gethostname().split(".")[0]
    return name if re.fullmatch(NODE_NAME, name) else "local"


class HttpLimits(_Strict):
    """What one HTTP client may hold of the service (`hotline.app.httpserver`, decision 0004)."""

    # from the connection (or the end of the previous response) to the request's last header
    header_timeout: float = Field(10.0, gt=0, le=300)
    # from the request's headers to the last byte of its body
    body_timeout: float = Field(30.0, gt=0, le=600)
    # an idle keep-alive connection is closed after this many seconds
    keep_alive_timeout: int = Field(5, ge=1, le=300)
    # request line plus headers (h11's incomplete-event limit): more is 431
    max_header_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024)
    # a request body of a JSON API (the dialplan upload has its own, larger limit)
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    # connections plus requests in progress; beyond, requests get 503 at once
    max_connections: int = Field(500, ge=10, le=100_000)


class ServiceSettings(_Strict):
    host: str = "127.0.0.1"
    # The node this service and its Asterisk are (calls.node): several nodes share one
    # database in a cluster (docs/cluster.md). Default: the host's name.
    node: str = Field(default_factory=default_node_name, pattern=NODE_NAME)
    # Where the HTTP port listens; None: `host`. A cluster node serves its API on the node's
    # own address (docs/cluster.md); FastAGI and AudioSocket always stay on `host`.
    http_host: str | None = None
    agi_port: int = Field(4573, ge=1, le=65535)
    # Only FastAGI sessions that Asterisk starts are served: the dialplan holds this key
    # (extensions.conf, mode 0600) and the service asks for it. No default: `hotline run` in
    # demo mode generates one under var/ when unset; production requires it.
    agi_secret: SecretStr | None = None
    audiosocket_port: int = Field(9092, ge=1, le=65535)
    http_port: int = Field(8080, ge=1, le=65535)
    # Addresses or networks of reverse proxies whose X-Forwarded-For/-Proto the HTTP port
    # believes (the login throttle then keys on the client they name). Empty: none, the peer
    # address is the client.
    trusted_proxies: list[str] = []
    http: HttpLimits = HttpLimits()

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_ok(cls, v: list[str]) -> list[str]:
        out = []
        for item in v:
            try:
                out.append(str(ipaddress.ip_network(item.strip(), strict=False)))
            except ValueError:
                raise ValueError(f"trusted proxy {item!r} is not an IP address or network") from None
        return out
    # On SIGTERM (or Ctrl-C) the service stops taking calls (Asterisk's fallback queues new
    # ones) and gives the calls in progress this long to finish before it exits; the calls it
    # leaves then go on in Asterisk. A systemd unit's TimeoutStopSec must be longer.
    drain_grace: float = Field(30.0, ge=0, le=3600)
    # How often the service closes, from Asterisk's call records, the calls nobody else will
    # (those left by a crash or a drain, those the fallback took while the service was frozen).
    reconcile_interval: float = Field(60.0, ge=1, le=86400)
    # who may scrape GET /metrics on the HTTP port (no login; docs/decisions/0005): loopback
    # unless a Prometheus elsewhere is named here, e.g. ["10.1.2.3/32"]
    metrics_allow: list[IPvAnyNetwork] = Field(
        default_factory=lambda: [IPvAnyNetwork("127.0.0.0/8"), IPvAnyNetwork("::1/128")])

    @field_validator("agi_secret")
    @classmethod
    def _key_ok(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9._~-]{16,256}", v.get_secret_value()):
            raise ValueError("FastAGI secret must be 16-256 characters of A-Za-z0-9 . _ ~ -")
        return v


class AsteriskSettings(_Strict):
    """Where the local Asterisk lives and how the service talks to it."""

    root: Path = Field(default_factory=lambda: default_cache_dir() / "asterisk-root")
    cache: Path = Field(
        default_factory=lambda: default_cache_dir() / "asterisk22-sid-root.tar.zst"
    )
    instance: str = Field("run", pattern=r"^[a-z0-9_-]{1,32}$")
    host: str = "127.0.0.1"
    # Where Asterisk's SIP transport and RTP listen: loopback on one box, the node's address
    # in a cluster (where Kamailio reaches it).
    sip_host: str = "127.0.0.1"
    # A cluster's SIP proxy (Kamailio, "address:port"): operators register there, not here;
    # calls from it are hotline calls and operators are dialled through it. None: one box,
    # operators register at this Asterisk.
    sip_proxy: str | None = None
    sip_port: int = Field(5060, ge=1, le=65535)
    rtp_start: int = Field(10000, ge=1024, le=65535)
    rtp_end: int = Field(10999, ge=1024, le=65535)
    ami_port: int = Field(5038, ge=1, le=65535)
    ami_user: str = Field("hotline", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # No default: `hotline run` in demo mode generates one under var/ when unset.
    ami_secret: SecretStr | None = None
    # An unauthenticated caller endpoint matched by 127.0.0.1 (sipp, `make call`). None: on in
    # demo mode, off in production (hotline.app.settings.Settings refuses it there).
    test_caller: bool | None = None
    hotline_extension: str = Field("100", pattern=r"^[0-9A-Za-z]{1,20}$")
    # How long Asterisk waits for the service's first answer on a new call (its FastAGI
    # handshake) before it puts the caller into the pool itself: a frozen service strands no
    # one. The guard is lifted by that first answer; a call being served has no time limit.
    agi_first_answer_timeout: float = Field(3.0, ge=0.5, le=30)
    pool_queue: str = Field("hotline-pool", pattern=r"^[a-z0-9_-]{1,40}$")
    # Where callbacks and click-to-call reach callers: a SIP URI the `hotline-callers`
    # endpoint sends calls to (a trunk or a gateway), e.g. "sip:127.0.0.1:5070". None: no
    # callbacks are placed (requests stay pending).
    callback_contact: str | None = Field(
        None, pattern=r"^sips?:[A-Za-z0-9.\-]{1,100}(:[0-9]{1,5})?(;transport=(udp|tcp))?$")

    @field_validator("sip_host")
    @classmethod
    def _sip_host_ok(cls, v: str) -> str:
        try:
            return str(ipaddress.ip_address(v))
        except ValueError:
            raise ValueError(f"sip_host {v!r} is not an IP address") from None

    @field_validator("sip_proxy")
    @classmethod
    def _proxy_ok(cls, v: str | None) -> str | None:
        if v is None:
            return v
        host, sep, port = v.rpartition(":")
        try:
            ipaddress.IPv4Address(host)
            ok = bool(sep) and 1 <= int(port) <= 65535
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"sip_proxy {v!r} is not an IPv4 address:port")
        return v

    @field_validator("ami_secret")
    @classmethod
    def _secret_ok(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return v
        s = v.get_secret_value()
        if len(s) < 12 or any(c in s for c in "\r\n;[]= "):
            raise ValueError("AMI secret must be at least 12 characters with no spaces, ';', '=', brackets or newlines")
        return v


