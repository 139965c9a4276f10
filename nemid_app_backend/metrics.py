"""Prometheus metrics: what the service counts and measures, and the scrape view.

Every metric is defined here, once, with bounded labels (types, statuses, providers, error codes,
relying parties' client ids, route patterns: never a user ID, a request id or a path with an id).
The apps call the small helpers below at the point where the thing happens; counts of state
changes are taken on commit, so a rolled-back change counts nothing.

Several server processes (gunicorn or granian workers, uvicorn, Celery) each hold their own
values. With `PROMETHEUS_MULTIPROC_DIR` set (an empty directory, emptied when the service starts:
docs/deployment.md), prometheus-client writes every process's values to files there and the scrape
adds them up; without it (`make run`, tests) the one process's values are served.

Inside an HTTP request the writes made on commit (approval counts, citizen lock events) and the audit timings wait in a list of the
request (`soon`) and are made together when it is answered (observability middleware), just before
the request's own histogram: one burst of metric code a request instead of one between every two
database round trips, each of which found prometheus-client's code and, in multiprocess mode, its
file page cold again. Outside a request (tasks, commands, sockets) they are made at once.

Gauges that are facts about the database or the broker (webhook backlog, queue depth) are not
kept by any process: the scrape asks for them (`register_collector`), so they are right whichever
process answers.
"""

from __future__ import annotations

import atexit
import contextvars
import functools
import hmac
import ipaddress
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import REGISTRY, Collector

logger = logging.getLogger(__name__)

# The one environment variable read outside settings.py: it belongs to prometheus-client, which
# reads it itself when it is imported (before Django's settings may be), and switches to files.
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
if MULTIPROCESS:
    # A process that ends takes its live gauges (open sockets, long polls) with it. One killed
    # outright leaves its files behind until the directory is emptied at the next start.
    atexit.register(lambda: mark_process_dead(os.getpid()))

# Buckets of a person's time to decide (seconds) and of short server-side operations (seconds).
DECISION_BUCKETS = (1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600)
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

APPROVALS_CREATED = Counter("nemid_approvals_created_total", "Approval requests created.", ["type", "relying_party"])
APPROVALS_FINISHED = Counter(
    "nemid_approvals_finished_total", "Approval requests that reached a final status.", ["type", "status"]
)
DECISION_SECONDS = Histogram(
    "nemid_approval_decision_seconds",
    "Time from a request's creation to the citizen's decision (approved or denied).",
    ["type", "status"],
    buckets=DECISION_BUCKETS,
)
FRAUD_REPORTS = Counter("nemid_fraud_reports_total", "Denials the citizen flagged as fraud.")
PUSHES = Counter("nemid_push_total", "Push notifications sent, by provider and result.", ["provider", "result"])
PUSH_SECONDS = Histogram("nemid_push_seconds", "Time a push provider took to answer.", ["provider"], buckets=FAST_BUCKETS)
WEBSOCKETS = Gauge("nemid_websocket_connections", "Open WebSocket connections.", ["kind"], multiprocess_mode="livesum")
LONG_POLLS = Gauge("nemid_long_polls_in_flight", "Long polls waiting for an outcome.", multiprocess_mode="livesum")
# One histogram both counts and times the requests: its `_count` is the number answered (a
# separate counter would cost every request a second write, a file write in multiprocess mode).
HTTP_SECONDS = Histogram(
    "nemid_http_request_seconds",
    "Time to answer an HTTP request, by method, route pattern and status class; its _count counts them (long polls apart).",
    ["method", "route", "status"],
    buckets=FAST_BUCKETS,
)
LONG_POLLS_ANSWERED = Counter(
    "nemid_long_polls_total", "Long polls answered (not timed: they wait by design), by status class.", ["status"]
)
REFUSALS = Counter(
    "nemid_refusals_total",
    "Requests refused with a problem object, by its stable code (rate limits, locks, bad input, ...).",
    ["code"],
)
CITIZEN_LOCKS = Counter("nemid_citizen_locks_total", "Citizens locked, by reason.", ["reason"])
WEBHOOK_ATTEMPTS = Counter("nemid_webhook_attempts_total", "Webhook delivery attempts, by outcome.", ["outcome"])
AUDIT_APPEND_SECONDS = Histogram("nemid_audit_append_seconds", "Time to append one audit entry.", buckets=FAST_BUCKETS)
READINESS_FAILURES = Counter("nemid_readiness_failures_total", "Readiness checks that failed, by dependency.", ["dependency"])


@functools.lru_cache(maxsize=4096)
def child(metric: Counter | Gauge | Histogram, *labels: str) -> Any:
    """The metric's child for these label values, looked up once per process instead of on every
    call (`labels()` checks and converts its arguments and takes a lock each time). The label sets
    are few: types, statuses, route patterns, registered relying parties."""
    return metric.labels(*labels)


# Methods a client may send are any token: the others share one label value, so that labels stay bounded.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@functools.lru_cache(maxsize=2048)
def http_seconds(method: str, route: str, status_class: int) -> Histogram:
    """The labelled histogram of one (method, route pattern, status class)."""
    return child(HTTP_SECONDS, method if method in HTTP_METHODS else "other", route, f"{status_class}xx")


@functools.lru_cache(maxsize=8)
def long_polls_answered(status_class: int) -> Counter:
    return child(LONG_POLLS_ANSWERED, f"{status_class}xx")


# The metric writes waiting for the end of the current HTTP request (None outside one).
pending_var: contextvars.ContextVar[list[Callable[[], None]] | None] = contextvars.ContextVar(
    "nemid_metrics_pending", default=None
)


def soon(action: Callable[[], None]) -> None:
    """Make a metric write `action` when the current request is answered, at once outside a request."""
    pending = pending_var.get()
    if pending is None:
        action()
    else:
        pending.append(action)


def write_pending(pending: list[Callable[[], None]]) -> None:
    """Make the writes a request left waiting (the observability middleware, as it answers). A write
    that fails (the metric files' disk full) is logged and skipped: it never fails the request."""
    while pending:
        actions = pending[:]
        del pending[:]
        for action in actions:
            try:
                action()
            except Exception:
                logger.warning("a metric write failed", exc_info=True)


def on_commit(action: Callable[[], None]) -> None:
    """Make the metric write `action` when the current transaction commits (at once outside one),
    or, inside a request, when the request is answered after that commit."""
    transaction.on_commit(functools.partial(soon, action))


def approval_created(*, approval_type: str, relying_party: str) -> None:
    on_commit(child(APPROVALS_CREATED, approval_type, relying_party).inc)


def approval_finished(*, approval_type: str, status: str, decision_seconds: float | None, fraud_reported: bool = False) -> None:
    def count() -> None:
        child(APPROVALS_FINISHED, approval_type, status).inc()
        if decision_seconds is not None:
            child(DECISION_SECONDS, approval_type, status).observe(max(decision_seconds, 0.0))
        if fraud_reported:
            FRAUD_REPORTS.inc()

    on_commit(count)


def citizen_locked(*, reason: str) -> None:
    on_commit(child(CITIZEN_LOCKS, reason).inc)


# --- collectors asked at scrape time ------------------------------------------------------------

_collectors: list[Callable[[], Iterable[Metric]]] = []


def register_collector(collect: Callable[[], Iterable[Metric]]) -> None:
    """Apps register functions that read a fact (a backlog, a queue length) when the scrape asks.
    Called from AppConfig.ready(); registering the same function twice is a no-op."""
    if collect not in _collectors:
        _collectors.append(collect)


class _Registered(Collector):
    def collect(self) -> Iterable[Metric]:
        for collect in list(_collectors):
            try:
                yield from collect()
            except Exception as exc:  # a scrape never fails because one source is down
                logger.warning("metrics collector %s failed: %s: %s", collect.__qualname__, type(exc).__name__, exc)


def celery_queue_depth() -> Iterable[Metric]:
    """Messages waiting in the Celery broker's queues (Redis lists), when a Redis broker is used
    (embedded mode runs tasks at once: the family is there, without samples)."""
    family = GaugeMetricFamily("nemid_celery_queue_depth", "Tasks waiting in the Celery broker.", labels=["queue"])
    url = getattr(settings, "CELERY_BROKER_URL", "")
    if url.startswith(("redis://", "rediss://")):
        import redis

        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            for queue in ("celery",):
                family.add_metric([queue], float(client.llen(queue)))
        finally:
            client.close()
    return [family]


register_collector(celery_queue_depth)
_scrape_time = _Registered()
if not MULTIPROCESS:
    REGISTRY.register(_scrape_time)


def scrape() -> bytes:
    """The metrics in Prometheus' text format: every process's values in multiprocess mode."""
    if not MULTIPROCESS:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(_scrape_time)
    return generate_latest(registry)


def scrape_allowed(*, remote_addr: str, forwarded: bool, authorization: str, token: str) -> bool:
    """/metrics is for the operators' Prometheus only: with a token configured, the request must
    carry it (`Authorization: Bearer <token>`); without one, only a loopback peer that is not a
    proxy passing a request on (no X-Forwarded-For or Forwarded header) is served, so a proxy on the
    same host never opens it to the internet."""
    if token:
        scheme, _, given = authorization.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    if forwarded:
        return False
    try:
        return ipaddress.ip_address(remote_addr).is_loopback
    except ValueError:
        return False


__all__ = ["CONTENT_TYPE_LATEST", "scrape", "scrape_allowed"]
