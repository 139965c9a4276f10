"""One DRF exception handler: every error leaves as application/problem+json."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from nemid_app_backend import exceptions as app_exceptions
from nemid_app_backend import metrics

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

ResponseT = TypeVar("ResponseT", Response, JsonResponse)


def _flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into {"field.sub": ["message", ...]}."""
    errors: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors" and prefix:
                name = prefix
            for sub_key, messages in _flatten_errors(value, name).items():
                errors.setdefault(sub_key, []).extend(messages)
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            errors[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                errors.update(_flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        errors[prefix or "non_field_errors"] = [str(detail)]
    return errors


def to_application_error(exc: Exception) -> app_exceptions.ApplicationError | None:
    if isinstance(exc, app_exceptions.ApplicationError):
        return exc
    if isinstance(exc, drf_exceptions.ValidationError):
        return app_exceptions.ValidationError(_flatten_errors(exc.detail))
    if isinstance(exc, drf_exceptions.ParseError):
        return app_exceptions.ValidationError({"body": [str(exc.detail)]}, "The body is not valid JSON.")
    if isinstance(exc, (drf_exceptions.NotAuthenticated, drf_exceptions.AuthenticationFailed)):
        return app_exceptions.AuthenticationRequiredError()
    if isinstance(exc, (Http404, drf_exceptions.NotFound)):
        return app_exceptions.NotFoundError()
    if isinstance(exc, (PermissionDenied, drf_exceptions.PermissionDenied)):
        return app_exceptions.ForbiddenError()
    # Django's request limits (DATA_UPLOAD_MAX_NUMBER_FIELDS, DATA_UPLOAD_MAX_MEMORY_SIZE) are bad input, not a 500.
    if isinstance(exc, TooManyFieldsSent):
        return app_exceptions.ValidationError({"query": ["Too many query parameters."]})
    if isinstance(exc, RequestDataTooBig):
        return app_exceptions.ValidationError({"body": ["The request body is too large."]})
    if isinstance(exc, SuspiciousOperation):
        return app_exceptions.ValidationError({"non_field_errors": ["The request is malformed."]})
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        return app_exceptions.MethodNotAllowedError()
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        return app_exceptions.UnsupportedMediaTypeError()
    if isinstance(exc, drf_exceptions.NotAcceptable):
        return app_exceptions.NotAcceptableError()
    if isinstance(exc, drf_exceptions.Throttled):
        wait = int(getattr(exc, "wait", None) or 1)
        return app_exceptions.RateLimitedError(headers={"Retry-After": str(wait)})
    return None


def _with_headers(response: ResponseT, error: app_exceptions.ApplicationError) -> ResponseT:
    metrics.child(metrics.REFUSALS, error.code).inc()
    for name, value in error.headers.items():
        response[name] = value
    if error.http_status == 401:
        response["WWW-Authenticate"] = "Bearer"
    return response


def problem_response(error: app_exceptions.ApplicationError) -> Response:
    """The problem as a DRF response (rendered by the view's negotiated renderer)."""
    return _with_headers(Response(error.problem(), status=error.http_status, content_type=PROBLEM_CONTENT_TYPE), error)


def problem_json_response(error: app_exceptions.ApplicationError) -> JsonResponse:
    """The problem as a plain Django response, for views and handlers outside DRF."""
    return _with_headers(JsonResponse(error.problem(), status=error.http_status, content_type=PROBLEM_CONTENT_TYPE), error)


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    error = to_application_error(exc)
    if error is None:
        # An unexpected failure: log it with its traceback, show nothing of it.
        logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
        error = app_exceptions.InternalError()
    response = problem_response(error)
    view, request = context.get("view"), context.get("request")
    if error.http_status == 401 and view is not None and request is not None:
        # The scheme the view expects: "Device" for device endpoints, "Bearer" for relying parties.
        scheme = view.get_authenticate_header(request)
        if scheme:
            response["WWW-Authenticate"] = scheme
    if request is not None:
        # A problem is always JSON, whatever renderer the view negotiated (the schema view's YAML,
        # the docs view's HTML template): DRF renders the response with the request's renderer.
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = PROBLEM_CONTENT_TYPE
    return response


# The OpenID provider's machine endpoints answer every error in the RFCs' JSON (RFC 6749 §5.2,
# CIBA §13), also where Django answers on its own (a body it refuses to parse, an unhandled error).
OAUTH_JSON_PATHS = frozenset({"/oidc/token", "/oidc/backchannel"})


def _oauth_json(error: str, description: str, status: int) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def handler400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    if request.path in OAUTH_JSON_PATHS:
        return _oauth_json("invalid_request", "The request is malformed.", 400)
    return problem_json_response(app_exceptions.ValidationError({"non_field_errors": ["The request is malformed."]}))


def handler403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return problem_json_response(app_exceptions.ForbiddenError())


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return problem_json_response(app_exceptions.NotFoundError())


def handler500(request: HttpRequest) -> JsonResponse:
    if request.path in OAUTH_JSON_PATHS:
        return _oauth_json("server_error", "The server failed; try again later.", 500)
    return problem_json_response(app_exceptions.InternalError())
