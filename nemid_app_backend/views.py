"""Service-level endpoints: health, readiness and the JWKS."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from signing.services import jwks


@require_GET
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


@require_GET
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
        body = {
            "type": "about:blank",
            "title": "Service unavailable",
            "status": 503,
            "detail": "Not ready: " + ", ".join(sorted(failed)) + " unreachable.",
            "code": "not_ready",
            "checks": checks,
            "failed": sorted(failed),
        }
        return JsonResponse(body, status=503, content_type="application/problem+json")
    return JsonResponse({"status": "ready", "checks": checks})


@require_GET
def jwks_view(request: HttpRequest) -> JsonResponse:
    response = JsonResponse(jwks())
    response["Cache-Control"] = "public, max-age=300"
    response["Content-Type"] = "application/jwk-set+json"
    return response
