"""Fail closed: every DRF view refuses an anonymous caller unless it declares AllowAny, and the
views that declare it are the ones meant to be public."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RoutePattern
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

pytestmark = pytest.mark.django_db

# DRF views anyone may call (the plain Django views, health and JWKS, are not DRF views).
PUBLIC = {
    "device-register",  # the activation code and the proof of possession are the credentials
    "device-challenge",  # a challenge reveals nothing; its answer is the credential (docs/contract §9)
    "audit-checkpoints",  # signed checkpoints, published for anyone to keep (docs/contract §7)
    "schema",
    "docs",
}

_CONVERTER_VALUES = {"uuid": str(uuid.uuid4()), "int": "1"}


def _route(pattern: URLPattern | URLResolver) -> str:
    assert isinstance(pattern.pattern, RoutePattern), f"{pattern.pattern!r}: a DRF view behind a regex; extend this test"
    return str(pattern.pattern)


def _drf_views(
    patterns: list[URLPattern | URLResolver] | None = None, prefix: str = "/"
) -> Iterator[tuple[str, str, type[APIView]]]:
    """(path with example values, url name, view class) of every DRF view the URLconf routes to."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            if getattr(pattern.pattern, "regex", None) is not None and not isinstance(pattern.pattern, RoutePattern):
                continue  # the admin's regex-routed pages: no DRF views there
            yield from _drf_views(pattern.url_patterns, prefix + _route(pattern))
            continue
        view_class = getattr(pattern.callback, "cls", None)
        if isinstance(view_class, type) and issubclass(view_class, APIView):
            route = prefix + _route(pattern)
            path = re.sub(r"<(?:(\w+):)?\w+>", lambda match: _CONVERTER_VALUES.get(match.group(1) or "str", "example"), route)
            yield path, str(pattern.name), view_class


def _methods(view_class: type[APIView]) -> list[str]:
    return [method for method in view_class.http_method_names if hasattr(view_class, method)]


def _is_public(view_class: type[APIView]) -> bool:
    return any(isinstance(permission, type) and issubclass(permission, AllowAny) for permission in view_class.permission_classes)


def test_the_walk_finds_the_api():
    names = {name for _, name, _ in _drf_views()}
    assert {"approval-create", "device", "device-approval-decision", "threeds-authentications"} <= names


def test_only_the_views_meant_to_be_public_allow_anyone():
    assert {name for _, name, view_class in _drf_views() if _is_public(view_class)} == PUBLIC


@pytest.mark.parametrize(
    ("path", "method", "view_class"),
    [
        (path, method, view_class)
        for path, _, view_class in _drf_views()
        if not _is_public(view_class)
        for method in _methods(view_class)
    ],
)
def test_every_other_drf_view_refuses_an_anonymous_caller(client, path, method, view_class):
    assert getattr(resolve(path).func, "cls", None) is view_class  # the probe reaches the view
    response = client.generic(method.upper(), path, b"{}", content_type="application/json")
    assert response.status_code in (401, 403), (method, path, response.status_code)


class _DeclaresNothing(APIView):
    authentication_classes: list[type] = []

    def get(self, request: Request) -> Response:
        return Response({"secret": "shown"})


def test_a_view_that_declares_no_permission_is_refused():
    response = _DeclaresNothing.as_view()(APIRequestFactory().get("/anything"))
    assert response.status_code == 403
    assert response.data["code"] == "forbidden" and "secret" not in response.data
