"""Operator admin for key cards: issue one (its printable page is shown once), see every card's
state (codes left, last use, blocked until, print queue), revoke. Never a code or a code hash."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html

from citizens.admin import register_citizen_inline
from citizens.selectors import citizen_get_by_user_id
from keycards.models import KeyCard
from keycards.services import key_card_issue, key_card_revoke
from nemid_app_backend.admin_pages import ServiceOnlyChangeMixin, admin_actor, apply_application_error, form_page
from nemid_app_backend.exceptions import ApplicationError
from nemid_app_backend.timefmt import rfc3339


class IssueKeyCardForm(forms.Form):
    user_id = forms.CharField(label="User ID", max_length=10, help_text="The citizen's 10-digit user ID.")


def print_state(card: KeyCard) -> str:
    if card.printed_at:
        return f"printed {rfc3339(card.printed_at, whole_seconds=True)}"
    if card.print_queued_at:
        return "queued for printing"
    return "shown on issue"


def _with_codes_left(queryset: QuerySet[KeyCard]) -> QuerySet[KeyCard]:
    return queryset.annotate(left=Count("codes", filter=Q(codes__used_at__isnull=True)))


class KeyCardStateMixin:
    @admin.display(description="codes left", ordering="left")
    def codes_left(self, obj: KeyCard) -> int:
        return int(getattr(obj, "left", 0) if hasattr(obj, "left") else obj.codes.filter(used_at__isnull=True).count())

    @admin.display(description="printing")
    def printing(self, obj: KeyCard) -> str:
        return print_state(obj)


@admin.register(KeyCard)
class KeyCardAdmin(KeyCardStateMixin, ServiceOnlyChangeMixin, admin.ModelAdmin):
    list_display = ("serial", "citizen", "status", "codes_left", "last_used_at", "blocked_until", "printing", "created_at")
    list_select_related = ("citizen",)
    list_filter = ("status", "auto_issued")
    search_fields = ("serial", "citizen__user_id", "citizen__name")
    ordering = ("-created_at",)
    fields = (
        "id", "citizen", "serial", "status", "codes_left", "issued_by", "auto_issued", "created_at", "activated_at",
        "last_used_at", "failures", "blocked_until", "retired_at", "revoked_at", "printing",
    )  # fmt: skip
    readonly_fields = fields
    actions = ["revoke_cards"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[KeyCard]:
        return _with_codes_left(super().get_queryset(request))

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Issue a key card: the printable card is shown this once."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = IssueKeyCardForm(request.POST or None, initial={"user_id": request.GET.get("user_id", "")})
        if request.method == "POST" and form.is_valid():
            try:
                citizen = citizen_get_by_user_id(user_id=form.cleaned_data["user_id"])
                issued = key_card_issue(citizen=citizen, actor=admin_actor(request))
            except ApplicationError as error:
                apply_application_error(form, error)
            else:
                self.log_addition(request, issued.card, [{"added": {}}])
                codes = sorted(issued.codes.items())
                context = {
                    **self.admin_site.each_context(request),
                    "opts": self.model._meta,
                    "title": f"Key card {issued.card.serial}",
                    "card": issued.card,
                    "citizen": citizen,
                    "columns": [codes[index : index + 37] for index in range(0, len(codes), 37)],
                    "back_url": reverse("admin:keycards_keycard_change", args=[issued.card.pk]),
                }
                response = TemplateResponse(request, "admin/keycards/keycard/printable.html", context)
                add_never_cache_headers(response)
                return response
        return form_page(
            request,
            self,
            title="Issue key card",
            form=form,
            submit_label="Issue",
            intro="148 single-use codes. The card is shown once, to print: its codes are stored only as keyed hashes. "
            "A citizen with an active card gets this one as the replacement, used once the active card runs out.",
        )

    @admin.action(description="Revoke (the card accepts no code again)", permissions=["change"])
    def revoke_cards(self, request: HttpRequest, queryset: QuerySet[KeyCard]) -> None:
        revoked = 0
        for card in queryset.filter(status__in=[KeyCard.Status.ACTIVE, KeyCard.Status.PENDING]):
            key_card_revoke(card=card, actor=admin_actor(request), reason="revoked by an operator")
            revoked += 1
        self.message_user(request, f"{revoked} key card(s) revoked.", messages.SUCCESS)


class KeyCardInline(KeyCardStateMixin, admin.TabularInline):
    model = KeyCard
    verbose_name = "key card"
    fields = ("link", "status", "codes_left", "last_used_at", "blocked_until", "printing", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-created_at",)

    @admin.display(description="key card")
    def link(self, obj: KeyCard) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:keycards_keycard_change", args=[obj.pk]), obj.serial)

    def get_queryset(self, request: HttpRequest) -> QuerySet[KeyCard]:
        return _with_codes_left(super().get_queryset(request))

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


register_citizen_inline(KeyCardInline)
