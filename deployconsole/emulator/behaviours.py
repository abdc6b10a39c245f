"""How an emulated version answers a request: status, latency, what fails.

A :class:`Behaviour` is a version's profile, kept in
``state.behaviours[(service, version)]``. :func:`decide` draws one
request's :class:`Outcome` from it, and :func:`choose_route` a method and
path that fit the outcome: a failing request gets the route whose handler
the logged traceback runs through, so the log reads like one real request.

Every random draw comes from the ``rng`` passed in, in a fixed order, so a
seeded scenario replays the same requests.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass

# Python 3 runtimes the emulated world uses; everything else is python27.
PYTHON27 = "python27"


class Kind(enum.Enum):
    HEALTHY = "healthy"
    FAILS_AT_IMPORT = "fails-at-import"
    FLAKY = "flaky"
    SLOW = "slow"


class Failure(enum.Enum):
    """Which traceback a failed request logs (see tracebacks_corpus)."""

    IMPORT = "import"
    KEY_ERROR = "key-error"
    DB_ERROR = "db-error"
    TIMEOUT = "timeout"


# How a flaky version's failures are shared between the tracebacks.
_FLAKY_FAILURES = (
    (Failure.KEY_ERROR, 0.5),
    (Failure.DB_ERROR, 0.3),
    (Failure.TIMEOUT, 0.2),
)


@dataclass(frozen=True)
class Behaviour:
    """A version's profile.

    Attributes:
        kind: healthy, fails at import, flaky (``error_rate`` of requests
            fail with one of the handler tracebacks) or slow.
        error_rate: share of requests that fail, for FLAKY.
        median_latency: seconds a typical request takes.
        latency_spread: sigma of the log-normal latency around the median.
    """

    kind: Kind = Kind.HEALTHY
    error_rate: float = 0.0
    median_latency: float = 0.045
    latency_spread: float = 0.5

    @classmethod
    def healthy(cls, median_latency: float = 0.045) -> Behaviour:
        return cls(Kind.HEALTHY, median_latency=median_latency)

    @classmethod
    def fails_at_import(cls) -> Behaviour:
        return cls(Kind.FAILS_AT_IMPORT, error_rate=1.0)

    @classmethod
    def flaky(cls, error_rate: float, median_latency: float = 0.06) -> Behaviour:
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"error rate {error_rate} is not a share in [0, 1]")
        return cls(Kind.FLAKY, error_rate=error_rate, median_latency=median_latency)

    @classmethod
    def slow(cls, median_latency: float = 2.8) -> Behaviour:
        return cls(Kind.SLOW, median_latency=median_latency, latency_spread=0.35)

    @property
    def serves_warmup(self) -> bool:
        """Whether ``/_ah/warmup`` succeeds (the app must import first)."""
        return self.kind is not Kind.FAILS_AT_IMPORT


@dataclass(frozen=True)
class Outcome:
    status: int
    latency: float
    failure: Failure | None = None


def _latency(rng: random.Random, median: float, spread: float) -> float:
    return median * math.exp(rng.gauss(0.0, spread))


def decide(
    behaviour: Behaviour,
    runtime: str,
    rng: random.Random,
    *,
    loading: bool,
    warmup: bool = False,
) -> Outcome:
    """One request's outcome on a version with ``behaviour``.

    ``loading`` means the request started the instance, which adds the
    app's start-up time; ``warmup`` is App Engine's ``/_ah/warmup``.
    """
    startup = _latency(rng, 1.4 if runtime == PYTHON27 else 2.2, 0.3) if loading else 0
    if behaviour.kind is Kind.FAILS_AT_IMPORT:
        # The import itself is what fails: it takes a loading request's time.
        return Outcome(500, _latency(rng, 0.9, 0.3) + startup, Failure.IMPORT)
    if warmup:
        return Outcome(200, startup + _latency(rng, 0.02, 0.3))

    failure = None
    roll = rng.random()
    if behaviour.kind is Kind.FLAKY and roll < behaviour.error_rate:
        failure = _pick_failure(rng)
    typical = _latency(rng, behaviour.median_latency, behaviour.latency_spread)
    latency = startup + typical
    if failure is Failure.TIMEOUT:
        # python27 requests die at the 60 s request deadline; the python3
        # app's outbound call gives up after its own 2 s timeout.
        latency = startup + (60.0 if runtime == PYTHON27 else 2.0) + rng.random() * 0.05
    return Outcome(500 if failure else 200, latency, failure)


def _pick_failure(rng: random.Random) -> Failure:
    roll = rng.random()
    for failure, share in _FLAKY_FAILURES:
        if roll < share:
            return failure
        roll -= share
    return _FLAKY_FAILURES[-1][0]


# -- routes --------------------------------------------------------------------

# Values that vary from one occurrence of a traceback to the next; the
# corpus texts hold the ones printed when they were recorded.
SKU_IN_CORPUS = "sku-7731"
ORDER_IN_CORPUS = "o-5521"

# (method, path, weight) per service for requests that succeed. Paths may
# hold {sku}, {order} and {n}, drawn per request.
_ROUTES: dict[str, tuple[tuple[str, str, float], ...]] = {
    "default": (
        ("GET", "/", 0.35),
        ("GET", "/products/{n}", 0.25),
        ("GET", "/cart?sku=sku-1001&sku={sku}", 0.15),
        ("POST", "/orders/{order}/pay", 0.1),
        ("GET", "/checkout/quote?zip=9{n}", 0.1),
        ("GET", "/static/css/site.css", 0.05),
    ),
    "api": (
        ("GET", "/v1/products?page={n}", 0.4),
        ("GET", "/v1/orders/{order}", 0.3),
        ("POST", "/v1/cart", 0.2),
        ("GET", "/healthz", 0.1),
    ),
    "worker": (
        ("POST", "/tasks/send-digest", 0.4),
        ("POST", "/tasks/expire-sessions", 0.3),
        ("GET", "/tasks/rebuild-index", 0.3),
    ),
}
_OTHER_ROUTES = (("GET", "/", 0.7), ("GET", "/healthz", 0.3))


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    # (text in the corpus traceback, this request's value) pairs.
    values: tuple[tuple[str, str], ...] = ()


def choose_route(
    service: str, failure: Failure | None, runtime: str, rng: random.Random
) -> Route:
    """A route for a request; a failing one gets the route that fails so."""
    sku = f"sku-{rng.randint(3000, 9999)}"
    order = f"o-{rng.randint(1000, 99999)}"
    number = rng.randint(1000, 9999)
    values = ((SKU_IN_CORPUS, sku), (ORDER_IN_CORPUS, order))
    if failure is Failure.KEY_ERROR:
        return Route("GET", f"/cart?sku=sku-1001&sku={sku}", values)
    if failure is Failure.DB_ERROR:
        if runtime == PYTHON27:
            return Route("POST", f"/orders/pay?id={order}", values)
        return Route("POST", f"/orders/{order}/pay", values)
    if failure is Failure.TIMEOUT:
        if runtime == PYTHON27:
            return Route("GET", "/tasks/rebuild-index", values)
        return Route("GET", f"/checkout/quote?zip=9{number}", values)

    routes = _ROUTES.get(service, _OTHER_ROUTES)
    roll = rng.random() * sum(weight for _, _, weight in routes)
    method, template, _ = routes[-1]
    for candidate_method, candidate, weight in routes:
        if roll < weight:
            method, template = candidate_method, candidate
            break
        roll -= weight
    path = template.format(sku=sku, order=order, n=number)
    return Route(method, path, values)
