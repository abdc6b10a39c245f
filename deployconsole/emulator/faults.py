"""Fault injection for the emulator, settable per test or by ``--fault``.

Switches (METHOD is an RPC name such as ``UpdateService``):

- ``tail-cut-every=N``: a TailLogEntries stream ends with UNAVAILABLE after
  every N entries it has sent.
- ``tail-cut-random=P``: after each entry sent, the stream ends with
  UNAVAILABLE with probability P.
- ``unavailable=METHOD:K``: the next K calls of METHOD fail with UNAVAILABLE.
- ``slow=METHOD:SECONDS``: every call of METHOD waits SECONDS first.
- ``operation-error=METHOD``: operations started by METHOD end in error.
- ``permission-denied=METHOD``: every call of METHOD is PERMISSION_DENIED.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field

import grpc

log = logging.getLogger("deployconsole.emulator.faults")

FAULT_NAMES = (
    "tail-cut-every",
    "tail-cut-random",
    "unavailable",
    "slow",
    "operation-error",
    "permission-denied",
)


class FaultError(ValueError):
    """A ``--fault`` value that cannot be understood."""


@dataclass
class Faults:
    """The live fault switches; thread-safe, changeable while serving."""

    tail_cut_every: int = 0
    tail_cut_random: float = 0.0
    unavailable: dict[str, int] = field(default_factory=dict)
    slow: dict[str, float] = field(default_factory=dict)
    operation_error: set[str] = field(default_factory=set)
    permission_denied: set[str] = field(default_factory=set)
    seed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)

    def set(self, spec: str) -> None:
        """Apply one ``NAME=VALUE`` switch (the ``--fault`` syntax)."""
        name, sep, value = spec.partition("=")
        name = name.strip()
        if not sep or name not in FAULT_NAMES:
            raise FaultError(
                f"unknown fault {spec!r}; expected NAME=VALUE with NAME one of "
                + ", ".join(FAULT_NAMES)
            )
        try:
            self._apply(name, value.strip())
        except (ValueError, IndexError) as exc:
            raise FaultError(f"bad value for fault {name}: {value!r} ({exc})") from exc

    def _apply(self, name: str, value: str) -> None:
        with self._lock:
            if name == "tail-cut-every":
                self.tail_cut_every = int(value)
            elif name == "tail-cut-random":
                probability = float(value)
                if not 0.0 <= probability <= 1.0:
                    raise ValueError("probability must be in [0, 1]")
                self.tail_cut_random = probability
            elif name == "unavailable":
                method, count = value.split(":")
                self.unavailable[method] = int(count)
            elif name == "slow":
                method, seconds = value.split(":")
                self.slow[method] = float(seconds)
            elif name == "operation-error":
                self.operation_error.add(value)
            elif name == "permission-denied":
                self.permission_denied.add(value)

    def clear(self) -> None:
        with self._lock:
            self.tail_cut_every = 0
            self.tail_cut_random = 0.0
            self.unavailable.clear()
            self.slow.clear()
            self.operation_error.clear()
            self.permission_denied.clear()

    def before_call(self, method: str, context: grpc.ServicerContext) -> None:
        """Apply the call-level faults for ``method``; may abort the call."""
        with self._lock:
            delay = self.slow.get(method, 0.0)
            denied = method in self.permission_denied
            remaining = self.unavailable.get(method, 0)
            if remaining > 0:
                self.unavailable[method] = remaining - 1
        if delay:
            time.sleep(delay)
        if denied:
            log.info("Fault: %s refused with PERMISSION_DENIED.", method)
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"The caller does not have permission (fault injected on {method}).",
            )
        if remaining > 0:
            log.info("Fault: %s refused with UNAVAILABLE.", method)
            context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"The service is currently unavailable (fault injected on {method}).",
            )

    def operation_fails(self, method: str) -> bool:
        with self._lock:
            return method in self.operation_error

    def tail_should_cut(self, sent_in_stream: int) -> bool:
        """Whether a tail stream that has sent ``sent_in_stream`` entries ends."""
        with self._lock:
            every = self.tail_cut_every
            probability = self.tail_cut_random
            roll = self._rng.random() if probability else 1.0
        if every and sent_in_stream > 0 and sent_in_stream % every == 0:
            return True
        return roll < probability
