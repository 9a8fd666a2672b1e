"""The AMI client's reconnect backoff (pure)."""

from __future__ import annotations

import random

import pytest

from hotline.pbx.ami.client import Backoff

pytestmark = pytest.mark.unit


def test_backoff_grows_with_jitter_to_cap_and_resets() -> None:
    b = Backoff(0.5, 10.0, rng=random.Random(0))
    delays = [b.next() for _ in range(8)]
    for got, base in zip(delays, [0.5, 1, 2, 4, 8, 10, 10, 10], strict=True):
        assert base * 0.8 <= got <= min(10.0, base * 1.2)
    assert len(set(delays)) > 4  # jittered, not lockstep
    b.reset()
    assert b.next() <= 0.6
