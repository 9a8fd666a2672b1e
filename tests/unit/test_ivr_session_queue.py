"""The IVR hands routing a WaitAnnouncer in the caller's language, from the dialplan's `queue:`."""

from __future__ import annotations

from typing import Any

from callrouting.events import WaitEstimate
from hotline.paths import PROJECT_ROOT
from ivr.check import load_dialplan
from ivr.machine import CallerInfo, ResolvedPrompt
from ivr.session import CallContext, IvrCallFlow

DEMO = load_dialplan(PROJECT_ROOT / "dialplan" / "hotline.yaml")


class Prompts:
    def __init__(self) -> None:
        self.asked: list[ResolvedPrompt] = []

    async def target(self, prompt: ResolvedPrompt) -> str:
        self.asked.append(prompt)
        return "/srv/hotline/x/sounds/prompts/" + "0" * 32


def flow_and_ctx(prompts: Prompts) -> tuple[IvrCallFlow, CallContext]:
    flow = IvrCallFlow(store=None, dialplans=lambda: DEMO, prompts=prompts, facts=None)  # type: ignore[arg-type]
    ctx = CallContext(1, "u-1", CallerInfo(number="+7000"), DEMO, store=None)  # type: ignore[arg-type]
    return flow, ctx


async def test_a_russian_caller_hears_russian_with_the_russian_voice():
    prompts = Prompts()
    flow, ctx = flow_and_ctx(prompts)
    announcer = flow._wait_announcer(ctx, "ru")
    assert announcer is not None and announcer.language == "ru" and announcer.music == "default"
    assert announcer.interval == DEMO.queue.announce_every  # type: ignore[union-attr]
    text = announcer.text(WaitEstimate(2, 2, True, 200.0, 3))
    assert text == ("Ваш номер в очереди: 2. Ожидаемое время ожидания: около 3 минут. "
                    "Чтобы мы перезвонили вам, сохранив вашу очередь, нажмите 1.")
    sound = await announcer.sound(text)
    assert sound.endswith("0" * 32)
    [asked] = prompts.asked
    assert (asked.text, asked.language, asked.voice) == (text, "ru", "ru_RU-irina-medium")


async def test_an_unknown_language_falls_back_to_the_default_and_no_queue_means_none():
    flow, ctx = flow_and_ctx(Prompts())
    announcer = flow._wait_announcer(ctx, "de")
    assert announcer is not None and announcer.language == "en"
    vip = announcer.text(WaitEstimate(1, 3, True, 0.0, None, vip=True))
    assert vip == ("As a priority caller, you will be connected first. You are number 1 in the "
                   "queue. The expected wait is less than a minute. To hang up and be called "
                   "back, keeping your place, press 1.")
    offer = announcer.callback
    assert offer is not None and offer.key == "1" and offer.operator_key == "0"
    assert offer.confirm("+79161234567") == (
        "We will call you back on 7 9 1 6 1 2 3 4 5 6 7. To confirm, press 1. To use another "
        "number, key it and press hash.")
    no_queue: Any = DEMO.model_copy(update={"queue": None})
    ctx.dialplan = no_queue
    assert flow._wait_announcer(ctx, "en") is None
