"""Operator admin for relying parties: creation and key rotation through the services, credentials shown once."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from nemid_app_backend.admin_pages import ShownOnce, admin_actor, apply_application_error, form_page, secrets_page
from nemid_app_backend.exceptions import ApplicationError, ValidationError
from relying_parties.models import APPROVAL_TYPES, RelyingParty
from relying_parties.services import relying_party_create, relying_party_rotate_key, relying_party_update, validate_callback_url

_TYPE_CHOICES = [(kind, kind) for kind in APPROVAL_TYPES]


def _clean_callback_url(value: str) -> str:
    if not value:
        return ""
    try:
        return validate_callback_url(value)
    except ValidationError as error:
        raise forms.ValidationError(error.extra["errors"]["callback_url"]) from error


class RelyingPartyCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    callback_url = forms.CharField(max_length=2000, required=False, help_text="Default webhook target (https).")
    allowed_types = forms.MultipleChoiceField(
        choices=_TYPE_CHOICES, initial=["login", "payment"], widget=forms.CheckboxSelectMultiple
    )

    def clean_callback_url(self) -> str:
        return _clean_callback_url(self.cleaned_data["callback_url"])


class RelyingPartyChangeForm(forms.ModelForm):
    allowed_types = forms.MultipleChoiceField(choices=_TYPE_CHOICES, widget=forms.CheckboxSelectMultiple)
    callback_url = forms.CharField(max_length=2000, required=False, help_text="Default webhook target (https).")

    class Meta:
        model = RelyingParty
        fields = ("name", "callback_url", "allowed_types", "is_active", "prompt_limit_per_minute")

    def clean_callback_url(self) -> str:
        return _clean_callback_url(self.cleaned_data["callback_url"])


@admin.register(RelyingParty)
class RelyingPartyAdmin(admin.ModelAdmin):
    form = RelyingPartyChangeForm
    ordering = ("name",)
    list_display = (
        "name",
        "client_id",
        "allowed_types",
        "callback_url",
        "is_active",
        "api_key_prefix",
        "created_at",
        "key_rotated_at",
    )
    list_filter = ("is_active",)
    search_fields = ("name", "client_id", "api_key_prefix")
    fields = (
        "name",
        "client_id",
        "callback_url",
        "allowed_types",
        "is_active",
        "prompt_limit_per_minute",
        "api_key_prefix",
        "created_at",
        "key_rotated_at",
    )
    readonly_fields = ("client_id", "api_key_prefix", "created_at", "key_rotated_at")
    actions = ["rotate_api_keys"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # approvals refer to it; deactivate instead

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = RelyingPartyCreateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                rp, api_key, webhook_secret = relying_party_create(
                    name=form.cleaned_data["name"],
                    callback_url=form.cleaned_data["callback_url"],
                    allowed_types=form.cleaned_data["allowed_types"],
                    actor=admin_actor(request),
                )
            except ApplicationError as error:
                apply_application_error(form, error)
            else:
                self.log_addition(request, rp, [{"added": {}}])
                url = reverse("admin:relying_parties_relyingparty_change", args=[rp.pk])
                item = ShownOnce(
                    rp.name, [("client_id", rp.client_id), ("API key", api_key), ("Webhook secret", webhook_secret)], url
                )
                return secrets_page(request, self, title="Relying party created", items=[item], back_url=url)
        return form_page(
            request,
            self,
            title="Add relying party",
            form=form,
            submit_label="Create",
            intro="The API key and webhook secret are shown once.",
        )

    def save_model(self, request: HttpRequest, obj: RelyingParty, form: Any, change: bool) -> None:
        if not change:  # pragma: no cover - adding goes through add_view
            raise PermissionDenied
        try:
            relying_party_update(
                relying_party=obj,
                actor=admin_actor(request),
                name=form.cleaned_data["name"],
                callback_url=form.cleaned_data["callback_url"],
                allowed_types=form.cleaned_data["allowed_types"],
                is_active=form.cleaned_data["is_active"],
                prompt_limit_per_minute=form.cleaned_data["prompt_limit_per_minute"],
            )
        except ApplicationError as error:  # pragma: no cover - the form validated the same rules
            raise PermissionDenied(error.detail) from error
        obj.refresh_from_db()

    @admin.action(description="Rotate API key (the old key stops working at once)", permissions=["change"])
    def rotate_api_keys(self, request: HttpRequest, queryset: QuerySet[RelyingParty]) -> HttpResponse:
        items = []
        for rp in queryset:
            rp, api_key = relying_party_rotate_key(relying_party=rp, actor=admin_actor(request))
            items.append(
                ShownOnce(
                    rp.name,
                    [("client_id", rp.client_id), ("New API key", api_key)],
                    reverse("admin:relying_parties_relyingparty_change", args=[rp.pk]),
                )
            )
        return secrets_page(
            request,
            self,
            title="API keys rotated",
            items=items,
            back_url=reverse("admin:relying_parties_relyingparty_changelist"),
        )
