"""What the service does with one call arriving over FastAGI (the foundation flow).

Answer, look the caller up, greet, store the call with its Asterisk ids, hang up.
The IVR replaces the middle; the bookkeeping and the "always reach a human" contract
(`HOTLINE_DONE`) stay here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from directory.lookup import find_caller
from hotline.clock import utcnow
from hotline.db.calls import CallStore
from hotline.pbx.agi import AgiChannel, AgiHangup
from hotline.phone import normalize_number

log = structlog.get_logger("hotline.call")


class FoundationCallFlow:
    def __init__(self, store: CallStore, *, country: str, greeting: str = "hello-world",
                 clock: Callable[[], datetime] = utcnow):
        self.store, self.country, self.greeting, self.clock = store, country, greeting, clock

    async def __call__(self, chan: AgiChannel) -> None:
        raw = chan.env.get("agi_callerid") or None
        number = normalize_number(raw, self.country)
        caller = await find_caller(self.store.sm, number)
        call_id = await self.store.start_call(
            uniqueid=chan.uniqueid, linkedid=chan.env.get("agi_linkedid") or None,
            channel=chan.env.get("agi_channel"), caller_id_raw=raw, caller_number=number,
            caller=caller, started_at=self.clock(),
        )
        clog = log.bind(uniqueid=chan.uniqueid, caller=number or "unknown")
        clog.info("call.started", known=caller is not None, vip=bool(caller and caller.vip))
        outcome = "caller_hung_up"
        path: list[dict[str, str]] = []
        try:
            await chan.answer()
            path.append({"step": "answered", "at": self.clock().isoformat()})
            clog.info("call.answered")
            await chan.stream_file(self.greeting)
            path.append({"step": "greeting", "prompt": self.greeting, "at": self.clock().isoformat()})
            clog.info("call.greeted", prompt=self.greeting)
            await chan.set_variable("HOTLINE_DONE", "1")
            await chan.hangup()
            outcome = "completed"
            clog.info("call.hung_up")
        except AgiHangup:
            clog.info("call.caller_hung_up")
        finally:
            await self.store.finish_call(call_id, outcome, path)
            clog.info("call.stored", outcome=outcome)
