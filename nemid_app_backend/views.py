"""Service-level endpoints: health and readiness; `read_only` for the plain views of the apps."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from nemid_app_backend import metrics
from nemid_app_backend.app_settings import app_settings
from nemid_app_backend.exception_handlers import problem_json_response
from nemid_app_backend.exceptions import ForbiddenError, MethodNotAllowedError, NotReadyError

View = Callable[[HttpRequest], HttpResponse]


def read_only(view: View) -> View:
    """GET and HEAD only; any other method is a 405 problem (not Django's CSRF 403 HTML page or empty 405)."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return problem_json_response(MethodNotAllowedError(headers={"Allow": "GET, HEAD"}))
        return view(request)

    return wrapper


@read_only
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means not ready
        return exc.__class__.__name__
    return None


def _check_redis(url: str) -> str | None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # any client error means not ready
        return exc.__class__.__name__
    return None


@read_only
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    failed: dict[str, str] = {}
    problem = _check_database()
    checks["database"] = "ok" if problem is None else "unavailable"
    if problem:
        failed["database"] = problem
    if settings.REDIS_URL:
        problem = _check_redis(settings.REDIS_URL)
        checks["redis"] = "ok" if problem is None else "unavailable"
        if problem:
            failed["redis"] = problem
    broker = settings.CELERY_BROKER_URL
    if broker.startswith(("redis://", "rediss://")) and broker != settings.REDIS_URL:
        problem = _check_redis(broker)
        checks["celery_broker"] = "ok" if problem is None else "unavailable"
        if problem:
            failed["celery_broker"] = problem
    elif broker == settings.REDIS_URL and settings.REDIS_URL:
        checks["celery_broker"] = checks["redis"]
        if "redis" in failed:
            failed["celery_broker"] = failed["redis"]
    if failed:
        for dependency in failed:
            metrics.child(metrics.READINESS_FAILURES, dependency).inc()
        detail = "Not ready: " + ", ".join(sorted(failed)) + " unreachable."
        return problem_json_response(NotReadyError(detail, checks=checks, failed=sorted(failed)))
    return JsonResponse({"status": "ready", "checks": checks})


@read_only
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus' scrape (docs/operations.md): loopback peers only, or the bearer token NEMID_METRICS_TOKEN."""
    allowed = metrics.scrape_allowed(
        remote_addr=request.META.get("REMOTE_ADDR", ""),
        forwarded=bool(request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded")),
        authorization=request.headers.get("Authorization", ""),
        token=app_settings.METRICS_TOKEN,
    )
    if not allowed:
        return problem_json_response(ForbiddenError("Metrics are for the operators' Prometheus only."))
    return HttpResponse(metrics.scrape(), content_type=metrics.CONTENT_TYPE_LATEST)
