"""Every table's owner module, imported once so that `Base.metadata` knows the whole schema.

Alembic autogenerate and tests/component/test_app_tables.py (the models against the migrated
database) import this; the service itself does not need it.
"""

from __future__ import annotations

import backoffice.models
import callrouting.tables
import directory.tables
import hotline.db.calls
import ivr.store
import lottery.tables
import recordings.models
from hotline.db.base import Base

OWNERS = (backoffice.models, callrouting.tables, directory.tables, hotline.db.calls, ivr.store,
          lottery.tables, recordings.models)
metadata = Base.metadata
