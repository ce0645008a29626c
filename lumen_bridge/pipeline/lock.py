"""Stage 2, lock: read what the batch decides on, in one statement.

The current incident of every key the cases name, locked until the transaction ends (on
PostgreSQL ``FOR UPDATE``, in id order as any other replica locks them; SQLite's write
transactions are exclusive already), and the silences in force at the batch's latest
receipt time (:mod:`lumen_bridge.store.sql.batch_read`; a recurring silence only inside
one of its windows), which with the configured flag make the suppression the suppress
stage applies.
"""

from __future__ import annotations

from lumen_bridge.domain.suppression import Suppression
from lumen_bridge.pipeline.batch import Batch
from lumen_bridge.store.sql import batch_read

__all__ = ["LockStage"]


class LockStage:
    """Fills ``batch.current`` and ``batch.suppression``."""

    def __init__(self, flag: bool) -> None:
        self.flag = flag
        """The global flag as configured (``LUMEN_ALERT_SUPPRESSED``)."""

    def __call__(self, batch: Batch) -> None:
        """Lock the cases' incidents and read the silences."""
        read = batch_read.read(
            batch.connection,
            ((case.route.receiver.name, case.alert.identity) for case in batch.cases),
            max(now for _, now in batch.received),
        )
        batch.current = read.current
        batch.suppression = Suppression.of(self.flag, read.silences)
