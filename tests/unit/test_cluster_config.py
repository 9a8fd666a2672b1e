"""The cluster's names, addresses and node settings (docs/cluster.md), without a cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import ValidationError

from hotline.app.settings import Settings
from hotline.cluster.netns import Topology
from hotline.pbx.asterisk import TEMPLATES, AsteriskInstance, Operator
from hotline.pbx.settings import AsteriskSettings, ServiceSettings, default_node_name


def test_topology_names_and_addresses() -> None:
    t = Topology("hl", "10.213.0.0/24", 3)
    assert t.bridge == "hl-br" and t.host_address == "10.213.0.1"
    assert t.node_names() == ["n1", "n2", "n3"]
    assert [t.node_address(n) for n in t.node_names()] == ["10.213.0.11", "10.213.0.12", "10.213.0.13"]
    assert t.netns("n2") == "hl-n2" and t.veth("n2") == ("hl-n2h", "hl-n2c")
    assert all(len(name) <= 15 for name in (*t.veth("n9"), Topology("abcdef").bridge))


@pytest.mark.parametrize("kw", [{"prefix": "Hl"}, {"prefix": "toolong7"}, {"prefix": "a;b"},
                                {"subnet": "8.8.8.0/24"}, {"subnet": "10.0.0.0/28"}, {"nodes": 0}])
def test_topology_refuses_what_could_touch_others(kw: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        Topology(**kw)


def test_node_settings_are_checked() -> None:
    assert ServiceSettings(node="n1").node == "n1"
    assert ServiceSettings().node == default_node_name()
    for bad in ({"node": "n 1"}, {"node": "x" * 64}, {"node": "-n"}):
        with pytest.raises(ValidationError):
            ServiceSettings(**bad)
    for bad_a in ({"sip_host": "node1"}, {"sip_proxy": "10.213.0.1"}, {"sip_proxy": "host:5060"},
                  {"sip_proxy": "10.213.0.1:99999"}):
        with pytest.raises(ValidationError):
            AsteriskSettings(**bad_a)


def _pjsip(settings: Settings) -> str:
    ctx = AsteriskInstance(settings)._context(
        [Operator("1001", "Anna Petrova", "demo-pass-1001")], "ami-secret-0123", "agi-key-0123456789abcdef")
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined)
    return env.get_template("pjsip.conf.j2").render(**ctx)


def test_a_cluster_node_dials_operators_through_the_proxy_and_takes_calls_only_from_it(tmp_path: Path) -> None:
    node = Settings(mode="demo", var_dir=tmp_path, asterisk=AsteriskSettings(
        sip_host="10.213.0.12", sip_proxy="10.213.0.1:5060"))
    conf = _pjsip(node)
    assert "bind = 10.213.0.12:5060" in conf and "media_address = 10.213.0.12" in conf
    assert "contact = sip:1001@10.213.0.1:5060" in conf
    assert "endpoint_identifier_order = ip\n" in conf
    assert "match = 10.213.0.1\n" in conf
    assert "password = " not in conf  # operators authenticate at Kamailio, not here
    assert "[test-caller]" not in conf  # not even in demo mode


def test_one_box_is_unchanged(tmp_path: Path) -> None:
    conf = _pjsip(Settings(mode="demo", var_dir=tmp_path))
    assert "bind = 127.0.0.1:5060" in conf and "media_address = 127.0.0.1" in conf
    assert "password = demo-pass-1001" in conf and "[test-caller]" in conf
    assert "sip-proxy" not in conf and "\ncontact = " not in conf


def test_shared_presence_settings() -> None:
    """Cluster presence (decision 0010): a lease must outlive more than two heartbeats; only a
    cluster node on PostgreSQL shares presence (one box, SQLite: none)."""
    from callrouting.presence_cluster import asyncpg_dsn, is_postgres

    c = Settings(cluster={"enabled": True}).cluster
    assert (c.shared_presence, c.presence_heartbeat, c.presence_ttl) == (True, 1.0, 4.0)
    with pytest.raises(ValidationError):
        Settings(cluster={"presence_heartbeat": 2, "presence_ttl": 4})
    assert not is_postgres(Settings().database_url)
    assert is_postgres("postgresql+asyncpg://hotline:pw@10.213.0.1:5432/hotline")
    # asyncpg's own scheme; the socket directory percent-encoded (asyncpg decodes it)
    assert asyncpg_dsn("postgresql+asyncpg://hotline@/t1?host=/tmp/s&port=5432") == \
        "postgresql://hotline@/t1?host=%2Ftmp%2Fs&port=5432"
