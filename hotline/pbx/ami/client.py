"""One long-lived Asterisk Manager Interface (AMI) connection: `AmiClient`.

A small asyncio client rather than a wrapper around panoramisk's `Manager`: replies and
EventLists are matched strictly by ActionID (never by the text of a response), every background
task is owned and cancelled by `stop()`, one clear log line is written per distinct failure, and
the connection is re-established with backoff followed by the `on_connected` hooks (resync).
docs/decisions/0001-ami-and-fastagi-transport.md records what panoramisk 1.4 was seen to get
wrong (tests/component/test_ami_panoramisk.py) and why this transport is kept.

Below it: `wire` (bytes <-> `Message`), `events` (typed events) and `dialstring` (checks for
values sent in `originate`/`redirect`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from hotline.pbx.ami.dialstring import (
    format_caller_id,
    format_variables,
    validate_application,
    validate_application_data,
    validate_channel,
    validate_context,
    validate_exten,
)
from hotline.pbx.ami.events import Event, OriginateResponse, parse_event
from hotline.pbx.ami.wire import BANNER_PREFIX, Message, encode_action, parse_message

__all__ = [
    "AmiActionError",
    "AmiClient",
    "AmiConnectionError",
    "AmiError",
    "AmiTimeout",
    "Backoff",
]


class AmiError(Exception):
    """Base class for AMI failures."""


class AmiConnectionError(AmiError):
    """Not connected, or the connection dropped while an action was pending."""


class AmiTimeout(AmiError, TimeoutError):
    """Asterisk did not answer (or did not finish an EventList) in time."""


class AmiActionError(AmiError):
    """Asterisk answered `Response: Error`."""

    def __init__(self, action: str, message: str, response: Message | None = None) -> None:
        super().__init__(f"{action}: {message}")
        self.action = action
        self.message = message
        self.response = response


class Backoff:
    """Exponential backoff with full-ish jitter: initial, x2 each time, capped at maximum."""

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 10.0,
        factor: float = 2.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        self.initial, self.maximum, self.factor, self.jitter = initial, maximum, factor, jitter
        self._rng = rng or random.Random()
        self._next = initial

    def reset(self) -> None:
        self._next = self.initial

    def next(self) -> float:
        base = self._next
        self._next = min(self.maximum, self._next * self.factor)
        spread = base * self.jitter
        return max(0.0, min(self.maximum, base + self._rng.uniform(-spread, spread)))


@dataclass
class _Pending:
    action: str
    response: asyncio.Future[Message]
    complete_event: str | None = None  # lower-case; None = single response
    done: asyncio.Future[Message] | None = None
    events: list[Message] = field(default_factory=list)


EventT = TypeVar("EventT", bound=Event)
Callback = Callable[..., Any]

_LOGIN_HINTS = {
    "authentication failed": "check asterisk.ami_user / asterisk.ami_secret against manager.conf",
}


class AmiClient:
    """Keeps one AMI session alive; see the module docstring.

    Callbacks (sync functions or coroutine functions) receive:
    - `subscribe(EventType, cb)`: the typed event; `subscribe(Event, cb)` gets every typed event.
    - `subscribe_raw(cb)`: every event `Message`, typed or not.
    - `on_connected(cb)`: the client, after login; awaited in order before the client is
      reported `connected` to `wait_connected()` waiters, so resyncs finish first.
    - `on_disconnected(cb)`: the client, when an established session ends.
    Each registration returns a function that removes it.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        logger: Any = None,
        connect_timeout: float = 5.0,
        login_timeout: float = 5.0,
        ping_interval: float = 20.0,
        ping_timeout: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.host, self.port, self.username = host, port, username
        self._secret = secret
        self.log = logger if logger is not None else structlog.get_logger("hotline.pbx.ami")
        self.connect_timeout = connect_timeout
        self.login_timeout = login_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.backoff = backoff or Backoff()

        self.connected = False
        self.asterisk_version: str | None = None
        self.ami_version: str | None = None
        self.last_error: str | None = None
        self.connections = 0  # successful logins so far

        self._runner: asyncio.Task[None] | None = None
        self._session_tasks: set[asyncio.Task[Any]] = set()
        self._callback_tasks: set[asyncio.Task[Any]] = set()
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._prefix = f"hotline-{uuid.uuid4().hex[:8]}-"
        self._subs: dict[type[Event], list[Callback]] = {}
        self._raw_subs: list[Callback] = []
        self._on_connected: list[Callback] = []
        self._on_disconnected: list[Callback] = []
        self._ready = asyncio.Event()
        self._last_reported: tuple[str, str] | None = None
        self._stopping = False
        self._drop_reason: str | None = None

    # ---- lifecycle

    async def start(self) -> None:
        """Start connecting in the background; returns at once."""
        if self._runner is not None and not self._runner.done():
            return
        self._runner = asyncio.create_task(self._run(), name="ami-client")

    async def stop(self) -> None:
        """Log off (best effort), cancel every task this client started, wait for them."""
        runner, self._runner = self._runner, None
        if runner is not None:
            self._stopping = True  # no reconnect after our own Logoff
            if self.connected:
                with contextlib.suppress(Exception):
                    await self.action({"Action": "Logoff"}, timeout=1.0)
            while not runner.done():  # re-cancel: a cancel racing a finishing await can be lost
                runner.cancel()
                await asyncio.wait({runner}, timeout=1.0)
            self._stopping = False
        await self._cancel_all(self._callback_tasks)

    async def wait_connected(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until logged in and the on_connected callbacks have run."""
        async with asyncio.timeout(timeout):
            await self._ready.wait()

    def reconnect(self, reason: str) -> None:
        """Drop the current session (if any); the run loop reconnects with backoff and resyncs."""
        if self._writer is not None and not self._writer.is_closing():
            self._drop_reason = reason
            self.log.warning("ami.reconnect_requested", reason=reason)
            self._writer.close()

    @property
    def running(self) -> bool:
        return self._runner is not None and not self._runner.done()

    # ---- subscriptions

    def subscribe(
        self, event_type: type[EventT], callback: Callable[[EventT], Any]
    ) -> Callable[[], None]:
        self._subs.setdefault(event_type, []).append(callback)
        return lambda: _remove(self._subs.get(event_type, []), callback)

    def subscribe_raw(self, callback: Callable[[Message], Any]) -> Callable[[], None]:
        self._raw_subs.append(callback)
        return lambda: _remove(self._raw_subs, callback)

    def on_connected(self, callback: Callable[[AmiClient], Any]) -> Callable[[], None]:
        self._on_connected.append(callback)
        return lambda: _remove(self._on_connected, callback)

    def on_disconnected(self, callback: Callable[[AmiClient], Any]) -> Callable[[], None]:
        self._on_disconnected.append(callback)
        return lambda: _remove(self._on_disconnected, callback)

    # ---- actions

    async def action(
        self,
        fields: Mapping[str, Any],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        check: bool = False,
    ) -> Message:
        """Send an action and return its `Response` message (raises AmiActionError if `check`)."""
        response, _ = await self._request(fields, complete_event=None, timeout=timeout)
        if check and not response.success:
            raise AmiActionError(_action_name(fields), response.message, response)
        return response

    async def action_list(
        self,
        fields: Mapping[str, Any],
        complete_event: str | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[Message]:
        """Run an EventList action; return its item events (without the `...Complete` event).

        Items are matched by ActionID only. The list ends at `complete_event` or, if that is
        None, at any event of ours carrying `EventList: Complete`. `Response: Error` raises
        AmiActionError (Asterisk answers that way for empty lists, e.g. "No Contacts found").
        """
        _, events = await self._request(
            fields, complete_event=(complete_event or "*"), timeout=timeout
        )
        return events[:-1]

    async def core_settings(self) -> Message:
        return await self.action({"Action": "CoreSettings"}, check=True)

    async def originate(
        self,
        channel: str,
        *,
        context: str | None = None,
        exten: str | None = None,
        priority: int = 1,
        application: str | None = None,
        data: str | None = None,
        caller_id_name: str | None = None,
        caller_id_num: str | None = None,
        variables: Mapping[str, str | int] | None = None,
        ring_timeout: float = 30.0,
        wait: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Message | OriginateResponse:
        """Originate a call (always async on the Asterisk side).

        With `wait=False` returns Asterisk's immediate Response ("queued"); with `wait=True`
        waits for the OriginateResponse (answered or failed) and returns it typed.
        """
        fields: dict[str, Any] = {"Action": "Originate", "Channel": validate_channel(channel)}
        if application is not None:
            fields["Application"] = validate_application(application)
            if data is not None:
                fields["Data"] = validate_application_data(data)
        else:
            if context is None or exten is None:
                raise ValueError("originate needs context+exten or application")
            fields["Context"] = validate_context(context)
            fields["Exten"] = validate_exten(exten)
            fields["Priority"] = int(priority)
        fields["Timeout"] = int(ring_timeout * 1000)
        if caller_id_name or caller_id_num:
            fields["CallerID"] = format_caller_id(caller_id_name, caller_id_num)
        if variables:
            fields["Variable"] = format_variables(variables)
        fields["Async"] = "true"
        if not wait:
            return await self.action(fields, timeout=timeout or 5.0, check=True)
        response, events = await self._request(
            fields, complete_event="originateresponse", timeout=timeout or ring_timeout + 10.0
        )
        result = parse_event(events[-1])
        assert isinstance(result, OriginateResponse)
        return result

    async def redirect(
        self,
        channel: str,
        context: str,
        exten: str,
        priority: int = 1,
        *,
        extra_channel: str | None = None,
        extra_context: str | None = None,
        extra_exten: str | None = None,
        extra_priority: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Message:
        """Send a channel (and optionally its peer) to context/exten/priority."""
        fields: dict[str, Any] = {
            "Action": "Redirect",
            "Channel": validate_channel(channel),
            "Context": validate_context(context),
            "Exten": validate_exten(exten),
            "Priority": int(priority),
        }
        if extra_channel is not None:
            fields["ExtraChannel"] = validate_channel(extra_channel)
            fields["ExtraContext"] = validate_context(extra_context or context)
            fields["ExtraExten"] = validate_exten(extra_exten or exten)
            fields["ExtraPriority"] = int(
                extra_priority if extra_priority is not None else priority
            )
        return await self.action(fields, timeout=timeout, check=True)

    # ---- internals: requests

    def _next_action_id(self) -> str:
        return f"{self._prefix}{next(self._ids)}"

    async def _request(
        self,
        fields: Mapping[str, Any],
        *,
        complete_event: str | None,
        timeout: float,  # noqa: ASYNC109
    ) -> tuple[Message, list[Message]]:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise AmiConnectionError("AMI not connected")
        name = _action_name(fields)
        action_id = self._next_action_id()
        payload = {k: v for k, v in fields.items() if k.lower() != "actionid"}
        payload["ActionID"] = action_id
        data = encode_action(payload)  # ValueError before anything is registered
        loop = asyncio.get_running_loop()
        pending = _Pending(action=name, response=loop.create_future())
        if complete_event is not None:
            pending.complete_event = complete_event.lower()
            pending.done = loop.create_future()
        self._pending[action_id] = pending
        try:
            writer.write(data)
            async with asyncio.timeout(timeout):
                await writer.drain()
                response = await pending.response
                if pending.complete_event is not None and not response.success:
                    raise AmiActionError(name, response.message, response)
                if pending.done is not None:
                    await pending.done
            return response, pending.events
        except TimeoutError:
            what = (
                f"complete list ({len(pending.events)} items so far)"
                if pending.done
                else "response"
            )
            raise AmiTimeout(f"{name}: no {what} within {timeout:g}s") from None
        except (ConnectionError, OSError) as exc:
            raise AmiConnectionError(f"{name}: {exc}") from exc
        finally:
            self._pending.pop(action_id, None)

    # ---- internals: connection loop

    async def _run(self) -> None:
        try:
            while not self._stopping:
                established = False
                try:
                    established = await self._session()
                except asyncio.CancelledError:
                    raise
                except _LoginFailed as exc:
                    self._report("ami.login_failed", str(exc), hint=exc.hint)
                except (
                    OSError,
                    EOFError,
                    asyncio.IncompleteReadError,
                    TimeoutError,
                    AmiError,
                ) as exc:
                    self._report(
                        "ami.connect_failed",
                        _describe(exc),
                        hint="is Asterisk running? check asterisk.ami_host / asterisk.ami_port",
                    )
                except Exception as exc:  # a bug must not kill presence forever
                    self.log.exception("ami.session_crashed", error=_describe(exc))
                    self.last_error = _describe(exc)
                if established:
                    self.backoff.reset()
                delay = self.backoff.next()
                self.log.debug("ami.reconnect_in", seconds=round(delay, 2))
                await asyncio.sleep(delay)
        finally:
            await self._teardown()

    async def _session(self) -> bool:
        """One connection: connect, login, resync, serve until it drops. True if logged in."""
        # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation (gh-86296)
        async with asyncio.timeout(self.connect_timeout):
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        self._writer = writer
        self._drop_reason = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                banner = await reader.readline()
            text = banner.decode("utf-8", "replace").strip()
            if not text.startswith(BANNER_PREFIX):
                raise AmiConnectionError(f"not an AMI server (banner {text[:60]!r})")
            self.ami_version = text[len(BANNER_PREFIX) :]
            reader_task = self._spawn(self._read_loop(reader), "ami-reader")

            resp = await self.action(
                {"Action": "Login", "Username": self.username, "Secret": self._secret},
                timeout=self.login_timeout,
            )
            if not resp.success:
                reason = resp.message or "login refused"
                raise _LoginFailed(reason, _LOGIN_HINTS.get(reason.lower(), "check manager.conf"))
            self.connections += 1

            try:
                settings = await self.action({"Action": "CoreSettings"}, timeout=self.login_timeout)
                self.asterisk_version = settings.get("AsteriskVersion") or None
            except AmiError as exc:
                self.log.warning("ami.core_settings_failed", error=str(exc))

            self.connected = True
            self.last_error = None
            self._last_reported = None
            self.log.info(
                "ami.connected",
                host=self.host,
                port=self.port,
                asterisk_version=self.asterisk_version,
                ami_version=self.ami_version,
                connection=self.connections,
            )
            for cb in list(self._on_connected):
                await self._call(cb, self, where="on_connected")
            if not reader_task.done():
                self._ready.set()
                self._spawn(self._ping_loop(), "ami-ping")
            await asyncio.wait({reader_task})
            self.log.warning("ami.disconnected", reason=self.last_error or "connection closed")
            return True
        finally:
            was_connected = self.connected
            self.connected = False
            self._ready.clear()
            self._writer = None
            writer.close()
            await self._cancel_all(self._session_tasks)
            self._fail_pending(AmiConnectionError("AMI connection lost"))
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()
            if was_connected:
                for cb in list(self._on_disconnected):
                    await self._call(cb, self, where="on_disconnected")

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                block = await reader.readuntil(b"\r\n\r\n")
                msg = parse_message(block.decode("utf-8", "replace"))
                if msg.fields:
                    self._handle(msg)
        except asyncio.IncompleteReadError:
            self.last_error = self._drop_reason or "connection closed by Asterisk"
        except asyncio.LimitOverrunError:
            self.last_error = "AMI message too large"
        except OSError as exc:
            self.last_error = _describe(exc)
        # fail waiting actions now instead of letting them run into their timeouts
        self._fail_pending(AmiConnectionError(f"AMI connection lost: {self.last_error}"))

    async def _ping_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            try:
                await self.action({"Action": "Ping"}, timeout=self.ping_timeout)
            except AmiError as exc:
                self._drop_reason = f"keepalive failed: {exc}"
                self.log.warning("ami.ping_failed", error=str(exc))
                if self._writer is not None:
                    self._writer.close()
                return

    def _handle(self, msg: Message) -> None:
        aid = msg.action_id
        pending = self._pending.get(aid) if aid else None
        if pending is not None:
            if msg.response is not None and not pending.response.done():
                pending.response.set_result(msg)
                if pending.done is not None and not msg.success and not pending.done.done():
                    pending.done.set_result(msg)
                return
            if msg.event is not None and pending.done is not None:
                pending.events.append(msg)
                ev = msg.event.lower()
                if ev == pending.complete_event or (
                    pending.complete_event == "*" and msg.get("EventList", "").lower() == "complete"
                ):
                    if not pending.response.done():
                        pending.response.set_result(Message({"Response": "Success"}))
                    if not pending.done.done():
                        pending.done.set_result(msg)
                return
        if msg.event is not None:
            self._dispatch(msg)

    def _dispatch(self, msg: Message) -> None:
        for cb in list(self._raw_subs):
            self._call_soon(cb, msg)
        event = parse_event(msg)
        if event is None:
            return
        for etype, cbs in list(self._subs.items()):
            if isinstance(event, etype):
                for cb in list(cbs):
                    self._call_soon(cb, event)

    def _call_soon(self, cb: Callback, arg: Any) -> None:
        """Sync callbacks run inline (in event order); coroutines become owned tasks."""
        try:
            result = cb(arg)
        except Exception:
            self.log.exception("ami.callback_failed", callback=_cb_name(cb))
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._callback_tasks.add(task)
            task.add_done_callback(self._callback_done)

    def _callback_done(self, task: asyncio.Task[Any]) -> None:
        self._callback_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("ami.callback_failed", error=_describe(task.exception()))

    async def _call(self, cb: Callback, arg: Any, *, where: str) -> None:
        try:
            result = cb(arg)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.exception(f"ami.{where}_failed", callback=_cb_name(cb), error=_describe(exc))

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._session_tasks.add(task)
        task.add_done_callback(self._session_tasks.discard)
        return task

    def _fail_pending(self, exc: Exception) -> None:
        for p in list(self._pending.values()):
            for fut in (p.response, p.done):
                if fut is not None and not fut.done():
                    fut.set_exception(exc)
                    fut.exception()  # mark retrieved if nobody awaits any more
        self._pending.clear()

    async def _cancel_all(self, tasks: set[asyncio.Task[Any]]) -> None:
        current = list(tasks)
        for t in current:
            t.cancel()
        if current:
            await asyncio.gather(*current, return_exceptions=True)
        tasks.difference_update(current)

    async def _teardown(self) -> None:
        self.connected = False
        self._ready.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        await self._cancel_all(self._session_tasks)
        self._fail_pending(AmiConnectionError("AMI client stopped"))

    def _report(self, event: str, reason: str, *, hint: str) -> None:
        """Log a failure once (error level); repeats of the same failure only at debug level."""
        self.last_error = reason
        key = (event, reason)
        if key != self._last_reported:
            self._last_reported = key
            self.log.error(event, reason=reason, hint=hint, host=self.host, port=self.port)
        else:
            self.log.debug(event, reason=reason, repeated=True)


class _LoginFailed(AmiError):
    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(reason)
        self.hint = hint


def _action_name(fields: Mapping[str, Any]) -> str:
    for k, v in fields.items():
        if k.lower() == "action":
            return str(v)
    return "?"


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _cb_name(cb: Callback) -> str:
    return getattr(cb, "__qualname__", repr(cb))


def _remove(items: list[Any], item: Any) -> None:
    with contextlib.suppress(ValueError):
        items.remove(item)
