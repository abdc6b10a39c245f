from __future__ import annotations

import gc

from deployconsole.ui.live.gc_pacer import GcPacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_freezes_while_busy_and_hands_back_after_a_quiet_spell() -> None:
    clock = FakeClock()
    pacer = GcPacer(freeze_every=1.0, thaw_after_quiet=30.0, clock=clock)
    survivors = [[i] for i in range(1000)]  # tracked objects to freeze
    try:
        pacer.tick(busy=True)
        assert not pacer.frozen  # not a second since the start yet
        clock.now = 1.5
        pacer.tick(busy=True)
        assert pacer.frozen
        assert gc.get_freeze_count() >= len(survivors)

        clock.now = 20.0
        pacer.tick(busy=False)
        assert pacer.frozen  # quiet, but not for long enough
        clock.now = 32.0
        pacer.tick(busy=False)
        assert not pacer.frozen
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
