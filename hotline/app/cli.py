"""`hotline` command line: run the demo, place a demo call, manage Asterisk, check dialplans."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import datetime

import structlog

from hotline.app.bootstrap import prepare_database
from hotline.app.bootstrap import settings_or_exit as _settings
from hotline.app.settings import Settings

log = structlog.get_logger("hotline.app.cli")


async def _run(settings: Settings, with_asterisk: bool) -> int:
    from hotline.app.service import Service, ami_secret
    from hotline.pbx.asterisk import AsteriskInstance, provision_root

    await prepare_database(settings)
    secret = ami_secret(settings)
    service = Service(settings, secret=secret)
    ast = AsteriskInstance(settings)
    if with_asterisk:
        await asyncio.to_thread(provision_root, settings.asterisk.root, settings.asterisk.cache)
        ast.write_config(await service.operators(), secret, service.agi_secret)
        if await asyncio.to_thread(ast.start):
            log.info("asterisk.started", sip=f"127.0.0.1:{settings.asterisk.sip_port}",
                     ami=f"127.0.0.1:{settings.asterisk.ami_port}", log=str(ast.log_file))
        else:  # its calls go on: the service's lifecycle is not Asterisk's
            log.info("asterisk.already_running", action="configuration reloaded, left running")
    loop = asyncio.get_running_loop()
    stop, hurry = asyncio.Event(), asyncio.Event()

    def on_signal() -> None:
        (hurry if stop.is_set() else stop).set()  # a second signal cuts the drain short

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        await service.start()
        _banner(settings, with_asterisk)
        await stop.wait()
        print(f"\nstopping: finishing calls in progress (at most {settings.service.drain_grace:g} s;"
              " again to stop now)...", file=sys.stderr)
        await service.drain(hurry=hurry)
    finally:
        await service.stop()
        # Asterisk stops with the service only in demo mode, and only if this run started it
        if with_asterisk and settings.mode != "production" and await asyncio.to_thread(ast.stop_if_owned):
            log.info("asterisk.stopped")
    return 0


def _banner(s: Settings, with_asterisk: bool) -> None:
    a, v = s.asterisk, s.service
    lines = [
        "",
        "Hotline is running (Ctrl-C drains and stops the service"
        + (", and the Asterisk it started):" if s.mode != "production" else "; Asterisk keeps running):"),
        f"  Asterisk 22      SIP udp 127.0.0.1:{a.sip_port}, AMI 127.0.0.1:{a.ami_port}"
        + ("" if with_asterisk else " (not started here)"),
        f"  hotline service  FastAGI 127.0.0.1:{v.agi_port}, AudioSocket 127.0.0.1:{v.audiosocket_port},"
        f" HTTP http://127.0.0.1:{v.http_port} (API docs at /docs, health at /health)",
        f"  database         {s.database_url}",
        f"  QA web page      http://127.0.0.1:{v.http_port}/qa/  (demo users and passwords: "
        f"{s.resolve(s.var_dir) / 'qa-users.txt'})",
        f"  dialplan         {s.dialplan} (edit it: the service reloads it; `hotline dialplan check`)",
        "",
        f"  Place a demo call:   make call      (sipp dials extension {a.hotline_extension})",
        f"  Softphone:           register 1001 / demo-pass-1001 at 127.0.0.1:{a.sip_port} (UDP),"
        f" then dial {a.hotline_extension}",
        "",
    ]
    print("\n".join(lines), file=sys.stderr, flush=True)


def cmd_run(args: argparse.Namespace) -> int:
    from hotline.logs import setup_logging

    settings = _settings(args)
    setup_logging(settings.log.level, settings.log.format)
    from hotline.app.service import SettingsProblem
    from hotline.pbx.asterisk import AsteriskError

    try:
        return asyncio.run(_run(settings, with_asterisk=not args.no_asterisk))
    except (AsteriskError, SettingsProblem) as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a port taken: another hotline (or anything else) listens there
        print(f"hotline: cannot listen: {exc.strerror or exc} - is another `hotline run` "
              "still running? (ports are in config/hotline.yaml)", file=sys.stderr)
        return 1


def _demo_walk(settings: Settings) -> list:  # type: ignore[type-arg]
    """Keys for the demo dialplan: a ticket check in business hours, the voice assistant after."""
    from zoneinfo import ZoneInfo

    from hotline.pbx.sipp import Dtmf, HangUp, Pause
    from ivr.check import load_dialplan
    from ivr.machine import is_holiday, opening_hours

    dp = load_dialplan(settings.resolve(settings.dialplan))
    now = datetime.now(ZoneInfo(dp.timezone))
    minute = now.hour * 60 + now.minute
    is_open = not is_holiday(dp, now.date()) and (
        not dp.business_hours
        or any(a <= minute < b for a, b in opening_hours(dp).get(now.weekday(), [])))
    # greeting, rating notice and language menu (silence keeps English) take ~20 s; keys
    # pressed while the next menu speaks interrupt it
    if is_open:
        print("demo walk: main menu 1 (ticket check), ticket 123456#, hear the answer", file=sys.stderr)
        return [Pause(24000), Dtmf("1"), Pause(3000), Dtmf("123456#"), Pause(15000), HangUp()]
    print("demo walk (after hours): 5 for the voice assistant, listen, hang up", file=sys.stderr)
    return [Pause(24000), Dtmf("5"), Pause(15000), HangUp()]


def cmd_call(args: argparse.Namespace) -> int:
    from hotline.pbx.sipp import Dtmf, HangUp, Pause, place_call

    settings = _settings(args)
    if args.digits is None:
        steps = _demo_walk(settings)
    elif args.digits:
        steps = [Pause(args.wait_ms), Dtmf(args.digits), Pause(args.listen_ms), HangUp()]
    else:
        steps = [Pause(args.listen_ms), HangUp()]
    target = args.target or f"127.0.0.1:{settings.asterisk.sip_port}"
    print(f"calling {settings.asterisk.hotline_extension} at {target} as {args.caller} ...",
          file=sys.stderr)
    res = asyncio.run(place_call(
        target=target, service=settings.asterisk.hotline_extension,
        caller_id=args.caller, steps=steps, timeout=args.timeout,
        local_ip=args.local_ip or target.rpartition(":")[0],
    ))
    print("the service's log shows each step (ivr.step lines)", file=sys.stderr)
    print("call completed" if res.ok else f"call failed (sipp exit {res.returncode})\n{res.stderr[-2000:]}",
          file=sys.stderr)
    return 0 if res.ok else 1


def cmd_asterisk(args: argparse.Namespace) -> int:
    from hotline.app.service import SettingsProblem
    from hotline.pbx.asterisk import AsteriskError, AsteriskInstance, provision_root

    settings = _settings(args)
    try:
        if args.action == "provision":
            provision_root(settings.asterisk.root, settings.asterisk.cache)
            print(f"Asterisk root ready at {settings.asterisk.root}")
        elif args.action == "stop":
            AsteriskInstance(settings).stop()
        elif args.action in ("config", "run"):
            return _asterisk_config_and_run(settings, foreground=args.action == "run")
        elif args.action == "status":
            inst = AsteriskInstance(settings)
            print("running" if inst.running() else "stopped")
    except (AsteriskError, SettingsProblem) as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 1
    return 0


def _asterisk_config_and_run(settings: Settings, *, foreground: bool) -> int:
    """Asterisk under its own supervisor (deploy/systemd/hotline-asterisk.service): its
    configuration from the settings and the directory, then exec Asterisk in the foreground."""
    import os

    from hotline.app.service import Service, ami_secret
    from hotline.pbx.asterisk import AsteriskInstance, provision_root

    async def operators_and_key() -> tuple[list, str]:  # type: ignore[type-arg]
        await prepare_database(settings)
        svc = Service(settings, secret=ami_secret(settings), with_bot=False)
        try:
            return await svc.operators(), svc.agi_secret
        finally:
            await svc.engine.dispose()

    provision_root(settings.asterisk.root, settings.asterisk.cache)
    ops, key = asyncio.run(operators_and_key())
    inst = AsteriskInstance(settings)
    inst.write_config(ops, ami_secret(settings), key)
    print(f"Asterisk configuration written to {inst.dir / 'etc'}", file=sys.stderr)
    if not foreground:
        return 0
    cmd = inst.foreground_command()
    sys.stderr.flush()
    os.execvp(cmd[0], cmd)  # never returns


def cmd_db(args: argparse.Namespace) -> int:
    settings = _settings(args)
    asyncio.run(prepare_database(settings))
    print(f"database ready: {settings.database_url}")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    s = _settings(args)
    print(s.model_dump_json(indent=2, exclude={"asterisk": {"ami_secret"}, "service": {"agi_secret"}}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hotline", description=__doc__)
    p.add_argument("--config", help="settings file (default config/hotline.yaml or $HOTLINE_CONFIG)")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="start Asterisk and the service (the demo)")
    r.add_argument("--no-asterisk", action="store_true", help="use an Asterisk started elsewhere")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("call", help="place a demo call into the hotline with sipp")
    c.add_argument("--caller", default="+79162345678",
                   help="caller ID (default: Ivan Petrov, a known caller; +79161234567 is the VIP)")
    c.add_argument("--digits", default=None,
                   help="DTMF keys to press after --wait-ms (default: the demo walk to a ticket check)")
    c.add_argument("--wait-ms", type=int, default=7000, help="wait before pressing keys")
    c.add_argument("--listen-ms", type=int, default=15000, help="listen before hanging up")
    c.add_argument("--timeout", type=float, default=60)
    c.add_argument("--target", help="SIP address:port to call (default: the local Asterisk; "
                                     "a cluster: its Kamailio, e.g. 10.213.0.1:5060)")
    c.add_argument("--local-ip", help="the caller's address (default: the target's)")
    c.set_defaults(func=cmd_call)

    a = sub.add_parser("asterisk", help="manage the local Asterisk")
    a.add_argument("action", choices=["provision", "config", "run", "stop", "status"],
                   help="config: write its configuration from settings and the directory; "
                        "run: config, then become Asterisk in the foreground (a systemd unit)")
    a.set_defaults(func=cmd_asterisk)

    d = sub.add_parser("db", help="apply migrations and load demo data into an empty database")
    d.set_defaults(func=cmd_db)

    st = sub.add_parser("settings", help="print the effective settings (secrets hidden)")
    st.set_defaults(func=cmd_settings)

    _add_feature_commands(sub)
    return p


def _add_feature_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Commands contributed by feature packages (dialplan, bot, bench)."""
    from hotline.app.cli_bot import add_commands as bot_commands
    from hotline.app.cli_cluster import add_commands as cluster_commands
    from hotline.app.cli_dialplan import add_commands as ivr_commands
    from hotline.app.cli_users import add_commands as user_commands

    ivr_commands(sub)
    bot_commands(sub)
    user_commands(sub)
    cluster_commands(sub)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
