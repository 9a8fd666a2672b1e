"""`hotline cluster up|down|status|stop-node|start-node|kill-node`: the cluster on one machine
(hotline.cluster, docs/cluster.md)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
from pathlib import Path

from hotline.app.bootstrap import settings_or_exit


def _cluster(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from hotline.cluster.cluster import Cluster
    from hotline.cluster.netns import Topology

    settings = settings_or_exit(args)
    state_dir = Path(args.state_dir) if args.state_dir else settings.resolve(settings.var_dir) / "cluster"
    extra = {}
    for item in getattr(args, "env", None) or []:
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"HOTLINE_[A-Z0-9_]{1,80}", key):
            raise SystemExit(f"hotline: --env {item!r}: give HOTLINE_<SECTION>__<KEY>=value")
        extra[key] = value
    topo = None
    # up: this topology; down --force with no state: the one named (what an interrupted up
    # left); otherwise the recorded one
    if args.action == "up" or not (state_dir / "state.json").exists():
        topo = Topology(args.prefix, args.subnet, args.nodes)
    return settings, Cluster(state_dir.resolve(), topo, config=Path(args.config).resolve()
                             if args.config else None, extra_env=extra)


def _print_status(status: dict) -> None:  # type: ignore[type-arg]
    k, pg = status["kamailio"], status["postgresql"]
    lines = [
        "",
        f"  Kamailio (SIP proxy, registrar, dispatcher)  {k['sip']}  "
        f"{'running' if k['running'] else 'STOPPED'}  log {k['log']}",
        f"  PostgreSQL (shared)   {pg['address']} database {pg['database']}  "
        f"{'running' if pg['running'] else 'STOPPED'}  log {pg['log']}",
    ]
    for n in status["nodes"]:
        lines.append(
            f"  node {n['node']}  netns {n['netns']}  Asterisk SIP {n['sip']} ({n['asterisk']}), "
            f"service {n['service']}{' healthy' if n['healthy'] else ''}, HTTP {n['http']}, "
            f"dispatcher: {n['dispatcher']}")
        lines.append(f"           logs {n['service_log']}, {n['asterisk_log']}")
    net = ", ".join(f"{name} {'up' if ok else 'missing'}" for name, ok in status["network"].items())
    lines += [f"  network  {net}", f"  state    {status['state']} (mode 0600: database passwords)", ""]
    print("\n".join(lines), file=sys.stderr, flush=True)


def cmd_cluster(args: argparse.Namespace) -> int:
    from hotline.app.bootstrap import prepare_database
    from hotline.app.settings import DatabaseSettings
    from hotline.cluster.cluster import ClusterError
    from hotline.cluster.kamailio import KamailioError
    from hotline.cluster.netns import NetnsError
    from hotline.cluster.postgres import PostgresError
    from hotline.logs import setup_logging
    from hotline.pbx.asterisk import AsteriskError

    settings, cluster = _cluster(args)
    setup_logging(settings.log.level, settings.log.format)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the health polls are not news

    def prepare(url: str) -> None:
        asyncio.run(prepare_database(settings.model_copy(update={"database": DatabaseSettings(url=url)})))

    try:
        if args.action == "up":
            print("cluster: network, PostgreSQL, Kamailio, then the nodes (each loads its speech "
                  "models: up to a minute)...", file=sys.stderr, flush=True)
            cluster.up(prepare, hotline_extension=settings.asterisk.hotline_extension)
            print("\nThe cluster is up. Callers and softphones use Kamailio only:", file=sys.stderr)
            _print_status(cluster.status())
            print(f"  Call the hotline:  .venv/bin/hotline call --target "
                  f"{cluster.kamailio.address}:{cluster.kamailio.port}\n"
                  f"  Softphone: register an operator (e.g. 1001 / demo-pass-1001) at "
                  f"{cluster.kamailio.address}:{cluster.kamailio.port} (UDP)\n"
                  "  Stop it all:  hotline cluster down\n", file=sys.stderr)
        elif args.action == "down":
            if cluster.state_file.exists() or args.force:
                cluster.down()
            print("cluster: down", file=sys.stderr)
        elif args.action == "status":
            status = cluster.status()
            if args.json:
                print(json.dumps(status, indent=2))
            else:
                _print_status(status)
        elif args.action in ("stop-node", "start-node", "kill-node"):
            if not args.node:
                raise SystemExit(f"hotline: cluster {args.action} needs a node name (n1, n2, ...)")
            {"stop-node": cluster.stop_node, "kill-node": cluster.kill_node,
             "start-node": cluster.start_node}[args.action](args.node)
    except (ClusterError, KamailioError, NetnsError, PostgresError, AsteriskError) as exc:
        print(f"hotline: cluster {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    c = sub.add_parser("cluster", help="Kamailio, a shared PostgreSQL and 3 nodes on this machine "
                                       "(network namespaces; as root)")
    c.add_argument("action", choices=["up", "down", "status", "stop-node", "start-node", "kill-node"])
    c.add_argument("node", nargs="?", help="for stop-node, start-node, kill-node: n1, n2, ...")
    c.add_argument("--state-dir", help="where the cluster keeps its state, data and logs "
                                       "(default: var/cluster)")
    c.add_argument("--prefix", default="hl", help="names of the bridge and namespaces (default hl)")
    c.add_argument("--subnet", default="10.213.0.0/24", help="the cluster's private subnet")
    c.add_argument("--nodes", type=int, default=3)
    c.add_argument("--env", action="append", metavar="HOTLINE_X__Y=value",
                   help="a setting for every node (repeatable), e.g. HOTLINE_BOT__ASR_ENGINE=pocketsphinx")
    c.add_argument("--json", action="store_true", help="status as JSON")
    c.add_argument("--force", action="store_true", help="down: even with no state file")
    c.set_defaults(func=cmd_cluster)
