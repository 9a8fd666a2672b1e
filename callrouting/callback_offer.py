"""The callback offer for one caller waiting in Queue() (docs/decisions/0008).

The caller stays in the queue while they answer it, so they keep their place until they
confirm: their keys arrive as AMI `DTMFEnd` events of their channel (AMI read class `dtmf`;
app_queue ignores keys when the queue has no exit context), the prompts are whispered to
them over the music like the wait announcements (`hotline.pbx.whisper`), and only a
confirmed request takes them out of Queue() with `QueueWithdrawCaller` (an AMI action any
logged-in user may send): Queue() returns with QUEUESTATUS=WITHDRAW and the executor stores
the request and plays the goodbye on the caller's own channel.

With the dialplan's `listen: true` and a `QueueListener` (the voice bot's gateway), what the
caller says reaches the same dialog: each heard word becomes the key it stands for
(`callbacks.word_key`: "call me back" is the callback key, "yes" confirms, "operator" or
"no" goes back to waiting).  The listener runs as long as the offer does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from callrouting.callbacks import OfferDialog, word_key
from callrouting.events import CallbackOffer, QueueListener

if TYPE_CHECKING:
    from hotline.pbx.ami import AmiClient

log = structlog.get_logger("callrouting.callback_offer")


class CallbackIntake(Protocol):
    """Where the executor sends a caller's confirmed request (`callrouting.callback_desk`)."""

    async def withdraw(self, queue: str, channel: str) -> bool:
        """Take the caller out of Queue() (it returns with QUEUESTATUS=WITHDRAW)."""
        ...

    async def requested(self, *, call_id: Any, number: str, queue: str, priority: int,
                        joined_at: datetime, requested_at: datetime) -> int:
        """Store the request (pending, keeping the caller's priority and join time)."""
        ...


class Whisper(Protocol):
    async def say(self, channel: str, sound: str) -> bool: ...

    async def stop(self, channel: str) -> None: ...


class QueueOffer:
    def __init__(self, ami: AmiClient, uniqueid: str, channel: str, queue: str,
                 offer: CallbackOffer, sound: Callable[[str], Awaitable[str]], whisper: Whisper,
                 intake: CallbackIntake, caller_number: str | None,
                 listener: QueueListener | None = None):
        from hotline.pbx.ami import DTMFEnd

        self.uniqueid, self.channel, self.queue = uniqueid, channel, queue
        self.offer, self.sound, self.whisper, self.intake = offer, sound, whisper, intake
        self.dialog = OfferDialog(offer.key, offer.operator_key, caller_number, offer.timeout)
        self.task: asyncio.Task[None] | None = None
        self.withdrawn = False
        self.listener = listener if offer.listen else None
        self.heard: list[str] = []  # the words the listener gave, in order (logs, tests)
        self._keys: asyncio.Queue[str] = asyncio.Queue(maxsize=64)
        self._unsub = ami.subscribe(DTMFEnd, self._dtmf)
        self.log = log.bind(uniqueid=uniqueid)

    @property
    def number(self) -> str | None:
        """The confirmed number, once the caller is out of the queue for it."""
        return self.dialog.number if self.withdrawn else None

    def close(self) -> None:
        self._unsub()

    def _dtmf(self, ev: Any) -> None:
        if ev.uniqueid != self.uniqueid or (ev.direction or "").lower() != "received":
            return
        digit = (ev.digit or "")[:1]
        if digit and not self._keys.full():
            self._keys.put_nowait(digit)

    async def run(self) -> None:
        hearing = None
        if self.listener is not None:
            hearing = asyncio.create_task(self._hear(self.listener),
                                          name=f"callback-listen-{self.uniqueid}")
        try:
            await self._run()
        finally:
            if hearing is not None:
                hearing.cancel()
                await asyncio.gather(hearing, return_exceptions=True)

    async def _hear(self, listener: QueueListener) -> None:
        words = listener.listen(self.channel)
        try:
            async for word in words:
                self.heard.append(word)
                key = word_key(word, self.dialog)
                self.log.info("callback.heard", word=word, key=key, state=self.dialog.state)
                if key is not None and not self._keys.full():
                    self._keys.put_nowait(key)
        except Exception as exc:  # the keys still work
            self.log.warning("callback.listener_failed", error=str(exc))
        finally:
            await words.aclose()  # type: ignore[attr-defined]

    async def _run(self) -> None:
        while True:
            deadline = self.dialog.deadline
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                async with asyncio.timeout(wait):
                    digit = await self._keys.get()
            except TimeoutError:
                action = self.dialog.tick(time.monotonic())
            else:
                action = self.dialog.press(digit, time.monotonic())
            if action == "ask":
                self.log.info("callback.offer_asked", caller_id_usable=self.dialog.caller_number
                              is not None)
                await self._say(self.offer.confirm(self.dialog.caller_number or ""))
            elif action == "back":
                self.log.info("callback.offer_declined")
                await self._hush()
            elif action == "confirmed":
                await self._hush()
                if await self.intake.withdraw(self.queue, self.channel):
                    self.withdrawn = True
                    self.log.info("callback.confirmed", keyed=self.dialog.number
                                  != self.dialog.caller_number)
                    return  # Queue() returns at its next turn (within a second)
                self.log.warning("callback.withdraw_failed")
                self.dialog.state = "idle"  # the caller goes on waiting

    async def _say(self, text: str) -> None:
        await self._hush()
        try:
            await self.whisper.say(self.channel, await self.sound(text))
        except Exception as exc:
            self.log.warning("callback.prompt_failed", error=str(exc))

    async def _hush(self) -> None:
        """No announcement or earlier prompt goes on under this one."""
        try:
            await self.whisper.stop(self.channel)
        except Exception as exc:
            self.log.warning("callback.whisper_not_stopped", error=str(exc))
