"""Which e2e "slot" (Asterisk instance name and port range) this test process uses.

Each run of the e2e tests takes a slot with its own Asterisk instance and 1000 ports, so
several runs (helpers' worktrees, `make bench`, `make run` on the standard ports) never
collide. `HOTLINE_E2E_SLOT` picks the first slot; under pytest-xdist each worker takes the
next one (gw0 -> slot, gw1 -> slot + 1, ...), so `make test`'s parallel workers each get an
Asterisk of their own.
"""

from __future__ import annotations

import os
import re


def e2e_slot() -> int:
    base = int(os.environ.get("HOTLINE_E2E_SLOT", "0"))
    m = re.fullmatch(r"gw(\d+)", os.environ.get("PYTEST_XDIST_WORKER", ""))
    return base + (int(m.group(1)) if m else 0)
