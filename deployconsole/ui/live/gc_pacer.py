"""Keeping the garbage collector's full passes short while the log grows.

A full (oldest-generation) collection walks every object the collector
tracks, and the live log retains up to 100,000 records: with that many, one
pass stops the event loop for 100-200 ms. Records hold no reference cycles
(they are freed by reference counting when the bounded store drops them),
so while entries stream in, the objects that have lived a while are moved
out of the collector's reach (``gc.freeze()``) every couple of seconds, and
a full pass only walks what arrived since. When the stream has been quiet
for a while, everything is handed back and collected once, so that a
reference cycle that died while frozen is not kept for ever.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger("deployconsole.ui.live")


class GcPacer:
    """Call :meth:`tick` from the GUI's drain timer.

    Args:
        freeze_every: seconds between freezes while entries arrive.
        thaw_after_quiet: seconds without entries before the frozen objects
            are handed back and collected (once per quiet spell).
    """

    def __init__(
        self,
        *,
        freeze_every: float = 1.0,
        thaw_after_quiet: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.freeze_every = freeze_every
        self.thaw_after_quiet = thaw_after_quiet
        self._clock = clock
        now = clock()
        self._frozen_at = now
        self._busy_at = now
        self._frozen = False

    @property
    def frozen(self) -> bool:
        return self._frozen

    def tick(self, busy: bool) -> None:
        """``busy``: whether this tick brought entries."""
        now = self._clock()
        if busy:
            self._busy_at = now
            if now - self._frozen_at >= self.freeze_every:
                gc.freeze()
                self._frozen_at = now
                self._frozen = True
            return
        if self._frozen and now - self._busy_at >= self.thaw_after_quiet:
            started = time.perf_counter()
            gc.unfreeze()
            gc.collect()
            self._frozen = False
            log.debug(
                "Full garbage collection after a quiet spell took %.0f ms.",
                (time.perf_counter() - started) * 1e3,
            )
