"""Small building blocks for operator admin pages that call services.

Secrets (activation codes, API keys, webhook secrets) are shown once on a page rendered in the
response itself, never through the messages framework (whose storage may be the session table),
and the page is marked not to be cached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers


def admin_actor(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    name = user.get_username() if user is not None and user.is_authenticated else "anonymous"
    return f"admin:{name}"[:128]


class ServiceOnlyChangeMixin:
    """A change page that shows a row but never saves it: every change goes through an action
    that calls a service (so it is validated and audited)."""

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)  # type: ignore[misc]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        raise PermissionDenied  # read-only; the actions call the services

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@dataclass
class ShownOnce:
    heading: str
    values: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""


def secrets_page(
    request: HttpRequest, model_admin: admin.ModelAdmin, *, title: str, items: list[ShownOnce], back_url: str
) -> TemplateResponse:
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": title,
        "items": items,
        "back_url": back_url,
    }
    response = TemplateResponse(request, "admin/nemid/secrets.html", context)
    add_never_cache_headers(response)
    return response


def form_page(
    request: HttpRequest, model_admin: admin.ModelAdmin, *, title: str, form: forms.Form, submit_label: str, intro: str = ""
) -> TemplateResponse:
    context: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": title,
        "form": form,
        "submit_label": submit_label,
        "intro": intro,
    }
    return TemplateResponse(request, "admin/nemid/form.html", context)


def apply_application_error(form: forms.Form, error: Any) -> None:
    """Put an ApplicationError on the form: per field for validation errors, else for the form."""
    errors = getattr(error, "extra", {}).get("errors") or {}
    placed = False
    for name, messages in errors.items():
        if name in form.fields:
            for message in messages:
                form.add_error(name, message)
            placed = True
    if not placed:
        form.add_error(None, f"{error.detail} ({error.code})")
