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

# a slot's ports are 15000 + 1000 * slot ... + 999 (tests/e2e/conftest.py): 49 is the last
# that stays below 65536
MAX_SLOT = 49


def e2e_slot() -> int:
    base = int(os.environ.get("HOTLINE_E2E_SLOT", "0"))
    m = re.fullmatch(r"gw(\d+)", os.environ.get("PYTEST_XDIST_WORKER", ""))
    slot = base + (int(m.group(1)) if m else 0)
    if not 0 <= slot <= MAX_SLOT:
        raise ValueError(f"e2e slot {slot} (HOTLINE_E2E_SLOT={base}"
                         f"{', worker ' + m.group(0) if m else ''}) is outside 0-{MAX_SLOT}: "
                         f"its ports would be {15000 + 1000 * slot}-{15999 + 1000 * slot}")
    return slot
