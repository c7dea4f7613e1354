"""Persistence: SQLAlchemy tables, Alembic migrations and the :class:`Store` API.

The rest of skimguard uses only what is exported here::

    from skimguard.store import open_store
    store = open_store("sqlite:///skimguard.db")
"""

from skimguard.store.store import (
    AlertRow,
    AuditRow,
    BaselineRow,
    ScanRow,
    Store,
    StoredFinding,
    open_store,
)

__all__ = ["AlertRow", "AuditRow", "BaselineRow", "ScanRow", "Store", "StoredFinding", "open_store"]
