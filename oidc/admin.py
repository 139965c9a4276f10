"""Operator admin of the OpenID provider.

A relying party and its OpenID Connect client are one registration: the relying party's page shows
the client (redirect URIs, CIBA mode, whether a client secret is set) and creating a relying party
creates its client, showing the client secret once beside the API key and the webhook secret.
The relying parties' admin is extended here (re-registered with a subclass), since the
relying_parties app sits below this one. The toolkit's token and grant lists are read-only.

django-oauth-toolkit registers the client, grant and token models itself with the classes named
in OAUTH2_PROVIDER (*_ADMIN_CLASS); the other models are registered here.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from nemid_app_backend.admin_pages import ShownOnce, admin_actor, apply_application_error, form_page, secrets_page
from nemid_app_backend.exceptions import ApplicationError, ValidationError
from oidc.models import BackchannelRequest, Client, Consent
from oidc.services import (
    oidc_client_create,
    oidc_client_rotate_secret,
    oidc_client_update,
    relying_party_register,
    validate_redirect_uris,
)
from relying_parties.admin import RelyingPartyAdmin, RelyingPartyCreateForm
from relying_parties.models import RelyingParty
from relying_parties.services import validate_callback_url


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _uris(value: str, field: str) -> list[str]:
    try:
        return validate_redirect_uris(_lines(value), field=field)
    except ValidationError as error:
        raise forms.ValidationError(error.extra["errors"][field]) from error


def _endpoint(value: str) -> str:
    if not value:
        return ""
    try:
        return validate_callback_url(value, field="ciba_notification_endpoint")
    except ValidationError as error:
        raise forms.ValidationError(error.extra["errors"]["ciba_notification_endpoint"]) from error


_URIS_HELP = "One per line: https, or http on a loopback address (any port on 127.0.0.1 and [::1])."
_CIBA_CHOICES = [("", "no CIBA"), ("poll", "poll"), ("ping", "ping")]


class RegistrationForm(RelyingPartyCreateForm):
    redirect_uris = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, help_text=_URIS_HELP)
    post_logout_redirect_uris = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, help_text=_URIS_HELP)
    ciba_mode = forms.ChoiceField(choices=_CIBA_CHOICES, required=False)
    ciba_notification_endpoint = forms.CharField(max_length=2000, required=False, help_text="Ping mode: https.")

    def clean_redirect_uris(self) -> list[str]:
        return _uris(self.cleaned_data["redirect_uris"], "redirect_uris")

    def clean_post_logout_redirect_uris(self) -> list[str]:
        return _uris(self.cleaned_data["post_logout_redirect_uris"], "post_logout_redirect_uris")

    def clean_ciba_notification_endpoint(self) -> str:
        return _endpoint(self.cleaned_data["ciba_notification_endpoint"])


class RelyingPartyWithClientAdmin(RelyingPartyAdmin):
    fields = (*RelyingPartyAdmin.fields, "openid_connect")  # type: ignore[assignment]  # one more than the base
    readonly_fields = (*RelyingPartyAdmin.readonly_fields, "openid_connect")  # type: ignore[assignment]
    actions = [*RelyingPartyAdmin.actions, "rotate_client_secrets"]

    @admin.display(description="OpenID Connect")
    def openid_connect(self, obj: RelyingParty) -> str:
        client = Client.objects.filter(relying_party=obj).first()
        if client is None:
            return "Not registered: use the action “New OpenID Connect client secret” to register it."
        uris = format_html_join("", "<li>{}</li>", ((uri,) for uri in client.redirect_uri_list)) or "none"
        return format_html(
            "client secret set (stored hashed)<br>redirect URIs: <ul>{}</ul>CIBA: {}{}<br><a href='{}'>Edit the client</a>",
            uris,
            client.ciba_mode or "off",
            f" → {client.ciba_notification_endpoint}" if client.ciba_notification_endpoint else "",
            reverse("admin:oidc_client_change", args=[client.pk]),
        )

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = RegistrationForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                registration = relying_party_register(
                    name=data["name"],
                    callback_url=data["callback_url"],
                    allowed_types=data["allowed_types"],
                    redirect_uris=data["redirect_uris"],
                    post_logout_redirect_uris=data["post_logout_redirect_uris"],
                    ciba_mode=data["ciba_mode"],
                    ciba_notification_endpoint=data["ciba_notification_endpoint"],
                    actor=admin_actor(request),
                )
            except ApplicationError as error:
                apply_application_error(form, error)
            else:
                rp = registration.relying_party
                self.log_addition(request, rp, [{"added": {}}])
                url = reverse("admin:relying_parties_relyingparty_change", args=[rp.pk])
                item = ShownOnce(
                    rp.name,
                    [
                        ("client_id", rp.client_id),
                        ("API key", registration.api_key),
                        ("Webhook secret", registration.webhook_secret),
                        ("Client secret", registration.client_secret),
                    ],
                    url,
                )
                return secrets_page(request, self, title="Relying party created", items=[item], back_url=url)
        return form_page(
            request,
            self,
            title="Add relying party",
            form=form,
            submit_label="Create",
            intro="The API key, webhook secret and client secret are shown once.",
        )

    @admin.action(description="New OpenID Connect client secret (the old one stops working at once)", permissions=["change"])
    def rotate_client_secrets(self, request: HttpRequest, queryset: QuerySet[RelyingParty]) -> HttpResponse:
        items = []
        for rp in queryset:
            client = Client.objects.filter(relying_party=rp).first()
            if client is None:
                client, secret = oidc_client_create(relying_party=rp, actor=admin_actor(request))
            else:
                client, secret = oidc_client_rotate_secret(client=client, actor=admin_actor(request))
            items.append(
                ShownOnce(
                    rp.name,
                    [("client_id", client.client_id), ("Client secret", secret)],
                    reverse("admin:relying_parties_relyingparty_change", args=[rp.pk]),
                )
            )
        return secrets_page(
            request, self, title="Client secrets", items=items, back_url=reverse("admin:relying_parties_relyingparty_changelist")
        )


admin.site.unregister(RelyingParty)
admin.site.register(RelyingParty, RelyingPartyWithClientAdmin)


class ClientForm(forms.ModelForm):
    redirect_uris = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False, help_text=_URIS_HELP)
    post_logout_redirect_uris = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, help_text=_URIS_HELP)
    ciba_mode = forms.ChoiceField(choices=_CIBA_CHOICES, required=False)
    ciba_notification_endpoint = forms.CharField(max_length=2000, required=False, help_text="Ping mode: https.")

    class Meta:
        model = Client
        fields = ("redirect_uris", "post_logout_redirect_uris", "ciba_mode", "ciba_notification_endpoint")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["redirect_uris"] = "\n".join(self.instance.redirect_uri_list)
            self.initial["post_logout_redirect_uris"] = "\n".join(self.instance.post_logout_redirect_uri_list)

    def clean_redirect_uris(self) -> list[str]:
        return _uris(self.cleaned_data["redirect_uris"], "redirect_uris")

    def clean_post_logout_redirect_uris(self) -> list[str]:
        return _uris(self.cleaned_data["post_logout_redirect_uris"], "post_logout_redirect_uris")

    def clean_ciba_notification_endpoint(self) -> str:
        return _endpoint(self.cleaned_data["ciba_notification_endpoint"])


class ClientAdmin(admin.ModelAdmin):
    form = ClientForm
    list_display = ("client_id", "relying_party", "ciba_mode", "updated")
    search_fields = ("client_id", "relying_party__name")
    fields = (
        "client_id",
        "relying_party",
        "redirect_uris",
        "post_logout_redirect_uris",
        "ciba_mode",
        "ciba_notification_endpoint",
        "algorithm",
        "created",
        "updated",
    )
    readonly_fields = ("client_id", "relying_party", "algorithm", "created", "updated")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a client is created with its relying party

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Client, form: Any, change: bool) -> None:
        try:
            oidc_client_update(
                client=obj,
                actor=admin_actor(request),
                redirect_uris=form.cleaned_data["redirect_uris"],
                post_logout_redirect_uris=form.cleaned_data["post_logout_redirect_uris"],
                ciba_mode=form.cleaned_data["ciba_mode"],
                ciba_notification_endpoint=form.cleaned_data["ciba_notification_endpoint"],
            )
        except ApplicationError as error:
            raise PermissionDenied(error.detail) from error


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AccessTokenAdmin(_ReadOnlyAdmin):
    """Access tokens are stored as checksums only. Deleting one revokes it."""

    list_display = ("id", "user", "application", "scope", "expires", "created")
    list_select_related = ("user", "application")
    exclude = ("token", "token_checksum")


class GrantAdmin(_ReadOnlyAdmin):
    list_display = ("id", "user", "application", "acr", "expires", "created")
    list_select_related = ("user", "application")
    exclude = ("code", "code_challenge")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class IDTokenAdmin(_ReadOnlyAdmin):
    list_display = ("jti", "user", "application", "expires", "created")
    list_select_related = ("user", "application")


class RefreshTokenAdmin(_ReadOnlyAdmin):
    list_display = ("id", "user", "application", "created", "revoked")
    exclude = ("token", "token_checksum")


@admin.register(Consent)
class ConsentAdmin(_ReadOnlyAdmin):
    list_display = ("citizen", "client", "scopes", "granted_at")
    list_select_related = ("citizen", "client")


@admin.register(BackchannelRequest)
class BackchannelRequestAdmin(_ReadOnlyAdmin):
    list_display = ("approval", "client", "mode", "created_at", "expires_at", "tokens_issued_at")
    list_select_related = ("approval", "client")
    exclude = ("notification_token_encrypted", "auth_req_id")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
