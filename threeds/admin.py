"""Operators' view of cards and 3-D Secure authentications.

A card is shown only masked ("**** **** **** 1111"); neither the PAN nor its hash is ever displayed.
Registration and removal go through the audited services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from nemid_app_backend.exceptions import ApplicationError
from threeds import selectors, services
from threeds.models import Card, ThreeDSAuthentication


def _actor(request: HttpRequest) -> str:
    return f"admin:{getattr(request.user, 'username', '')}"[:128]


class CardRegistrationForm(forms.ModelForm):
    pan = forms.CharField(
        label="Card number",
        max_length=64,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="12-19 digits, Luhn-checked. Stored only as a keyed hash and the last 4 digits.",
    )

    class Meta:
        model = Card
        fields = ["citizen"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        pan = (cleaned.get("pan") or "").replace(" ", "")
        try:
            services.pan_validate(pan)
        except ApplicationError as exc:
            raise forms.ValidationError({"pan": exc.detail}) from exc
        if selectors.card_get_by_pan(pan=pan) is not None:
            raise forms.ValidationError({"pan": "This card number is already registered."})
        cleaned["pan"] = pan
        return cleaned


@admin.register(Card)
class CardAdmin(admin.ModelAdmin):
    list_display = ["masked_pan", "citizen_user_id", "created_at"]
    search_fields = ["last4", "citizen__user_id"]
    readonly_fields = ["masked_pan", "citizen", "created_at"]
    fields = ["masked_pan", "citizen", "created_at"]
    list_select_related = ["citizen"]
    raw_id_fields = ["citizen"]  # a select of every citizen would not scale

    @admin.display(description="Card number")
    def masked_pan(self, card: Card) -> str:
        return str(card)

    @admin.display(description="User ID", ordering="citizen__user_id")
    def citizen_user_id(self, card: Card) -> str:
        return card.citizen.user_id

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = CardRegistrationForm
            kwargs["fields"] = ["citizen", "pan"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["citizen", "pan"] if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Card, form: Any, change: bool) -> None:
        if change:
            return  # cards are immutable; there is nothing to change
        card = services.card_register(citizen=form.cleaned_data["citizen"], pan=form.cleaned_data["pan"], actor=_actor(request))
        obj.pk = card.pk
        obj.id = card.id

    def delete_model(self, request: HttpRequest, obj: Card) -> None:
        services.card_remove(card=obj, actor=_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Card]) -> None:
        for card in queryset.select_related("citizen"):
            services.card_remove(card=card, actor=_actor(request))


@admin.register(ThreeDSAuthentication)
class ThreeDSAuthenticationAdmin(admin.ModelAdmin):
    list_display = ["acs_trans_id", "relying_party", "initial_trans_status", "approval_status", "merchant_name", "created_at"]
    list_filter = ["initial_trans_status", "message_version"]
    search_fields = ["acs_trans_id", "three_ds_server_trans_id", "merchant_name"]
    list_select_related = ["relying_party", "approval", "card"]
    ordering = ["-created_at"]
    exclude = ["acct_number_hash"]

    @admin.display(description="Approval status")
    def approval_status(self, authentication: ThreeDSAuthentication) -> str:
        return authentication.approval.status if authentication.approval else "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
