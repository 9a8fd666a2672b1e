"""The words a caller waiting in the pool hears, from the dialplan's `queue:` texts.  Pure."""

from __future__ import annotations

from collections.abc import Mapping

from callrouting.events import WaitEstimate
from ivr.model import QueueCallback, QueueWait, Text


def pick(value: Text, language: str, default_language: str) -> str:
    if isinstance(value, str):
        return value
    if language in value:
        return value[language]
    return value.get(default_language) or next(iter(value.values()))


def announcement(queue: QueueWait, estimate: WaitEstimate, language: str,
                 default_language: str) -> str:
    """E.g. "You are number 2 in the queue. The expected wait is about 3 minutes."."""

    def say(value: Text, values: Mapping[str, object]) -> str:
        text = pick(value, language, default_language)
        for name, v in values.items():
            text = text.replace("{" + name + "}", str(v))
        return text.strip()

    place = {"position": estimate.position, "waiting": estimate.waiting}
    parts = []
    if estimate.vip and queue.vip is not None:
        parts.append(say(queue.vip, place))
    parts.append(say(queue.position, place))
    if not estimate.known:
        if queue.no_estimate is not None:
            parts.append(say(queue.no_estimate, {}))
    else:
        if estimate.minutes is None:
            wording = say(queue.less_than_a_minute, {})
        elif estimate.minutes == 1:
            wording = say(queue.one_minute, {})
        else:
            wording = say(queue.minutes, {"minutes": estimate.minutes})
        parts.append(say(queue.wait, {"wait": wording}))
    if queue.callback is not None:
        parts.append(say(queue.callback.offer, {}))
    return " ".join(p for p in parts if p)


def spoken_number(number: str) -> str:
    """"+79161234567" -> "7 9 1 6 1 2 3 4 5 6 7": a number read digit by digit."""
    return " ".join(c for c in number if c.isdigit())


def callback_text(callback: QueueCallback, field: str, number: str, language: str,
                  default_language: str) -> str:
    """`confirm` or `goodbye` of the dialplan's `queue.callback`, with the number read out."""
    text = pick(getattr(callback, field), language, default_language)
    return text.replace("{number}", spoken_number(number)).strip()
