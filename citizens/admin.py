"""Operator admin for citizens and activation codes.

Enrollment and activation codes go through the services and show the code once; the CPR number
is never displayed (masked only), nor are code hashes. Searching by a full CPR number works:
the typed number is hashed and matched, never stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from citizens import cpr as cpr_parser
from citizens import locks
from citizens.models import ActivationCode, Citizen
from citizens.services import CPR_PURPOSE, activation_code_issue, citizen_enroll
from nemid_app_backend.admin_pages import (
    ServiceOnlyChangeMixin,
    ShownOnce,
    admin_actor,
    apply_application_error,
    form_page,
    secrets_page,
)
from nemid_app_backend.exceptions import ApplicationError
from nemid_app_backend.secrets import keyed_hash
from nemid_app_backend.timefmt import rfc3339


class EnrollmentForm(forms.Form):
    cpr = forms.CharField(
        label="CPR number", max_length=11, help_text="DDMMYY-SSSS. Never stored: only a keyed hash and DDMMYY-XXXX."
    )
    name = forms.CharField(max_length=200)


def lock_state(citizen: Citizen) -> str:
    now = timezone.now()
    states = []
    if locks.citizen_is_locked(citizen, now=now) and citizen.locked_until:
        states.append(f"locked until {rfc3339(citizen.locked_until, whole_seconds=True)}")
    if locks.citizen_login_blocked(citizen, now=now) and citizen.login_blocked_until:
        states.append(f"logins blocked (fraud report) until {rfc3339(citizen.login_blocked_until, whole_seconds=True)}")
    if not states:
        return f"not locked ({citizen.failed_attempts} failed attempts)" if citizen.failed_attempts else "not locked"
    return "; ".join(states)


def activation_code_state(code: ActivationCode) -> str:
    if code.used_at:
        return "used"
    if code.is_expired():
        return "expired"
    return "usable"


class ActivationCodeInline(admin.TabularInline):
    model = ActivationCode
    fields = ("created_at", "expires_at", "used_at", "created_by", "state")
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description="state")
    def state(self, obj: ActivationCode) -> str:
        return activation_code_state(obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


_extra_inlines: list[type[admin.options.InlineModelAdmin]] = []
_extra_columns: list[tuple[Callable[[Citizen], Any], dict[str, Any]]] = []


def register_citizen_inline(inline: type[admin.options.InlineModelAdmin]) -> None:
    """An app above citizens adds a read-only section to the citizen's page (devices, key cards, key fobs)."""
    if inline not in _extra_inlines:
        _extra_inlines.append(inline)


def register_citizen_column(column: Callable[[Citizen], Any], **annotations: Any) -> None:
    """An app above citizens adds a column to the citizens' list, after the birth date; `annotations`
    are added to the list's query for the column to read and sort by (devices: active devices)."""
    if all(column is not known for known, _ in _extra_columns):
        _extra_columns.append((column, annotations))


def password_state(citizen: Citizen) -> str:
    """The password as an operator may see it: whether one is set, when, and its throttle; never the hash."""
    if not citizen.password_hash:
        return "not set"
    parts = [f"set {rfc3339(citizen.password_changed_at, whole_seconds=True)}" if citizen.password_changed_at else "set"]
    if citizen.password_last_used_at:
        parts.append(f"last used {rfc3339(citizen.password_last_used_at, whole_seconds=True)}")
    if citizen.password_failures:
        parts.append(f"{citizen.password_failures} wrong in a row")
    if citizen.password_blocked_until and citizen.password_blocked_until > timezone.now():
        parts.append(f"blocked until {rfc3339(citizen.password_blocked_until, whole_seconds=True)}")
    return "; ".join(parts)


@admin.register(Citizen)
class CitizenAdmin(ServiceOnlyChangeMixin, admin.ModelAdmin):
    """Apps above citizens add their sections to this page with register_citizen_inline and
    register_citizen_column (devices, key cards, key fobs). There is no way to set a password here:
    only the citizen can, from an enrolled device (docs/contract §9)."""

    list_display = ["user_id", "name", "cpr_masked", "birth_date", "lock_state_display", "created_at"]
    search_fields = ("user_id", "name")
    list_filter = ("created_at",)
    ordering = ("-created_at",)
    fields = (
        "user_id", "name", "cpr_masked", "birth_date", "created_at",
        "lock_state_display", "failed_attempts", "locked_until", "login_blocked_until", "fraud_reported_at",
        "password_state_display",
    )  # fmt: skip
    readonly_fields = fields
    inlines = [ActivationCodeInline]
    actions = ["issue_activation_codes", "unlock_citizens"]
    change_form_template = "admin/citizens/citizen/change_form.html"

    @admin.display(description="lock state")
    def lock_state_display(self, obj: Citizen) -> str:
        return lock_state(obj)

    @admin.display(description="password")
    def password_state_display(self, obj: Citizen) -> str:
        return password_state(obj)

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[type[admin.options.InlineModelAdmin]]:
        return [*super().get_inlines(request, obj), *_extra_inlines]

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        own = list(super().get_list_display(request))
        at = own.index("birth_date") + 1
        return [*own[:at], *(column for column, _ in _extra_columns), *own[at:]]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Citizen]:
        queryset = super().get_queryset(request)
        for _, extra in _extra_columns:
            if extra:
                queryset = queryset.annotate(**extra)
        return queryset

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Citizen], search_term: str
    ) -> tuple[QuerySet[Citizen], bool]:
        try:
            parsed = cpr_parser.parse_cpr(search_term) if search_term.isascii() else None
        except cpr_parser.CprError:
            parsed = None
        if parsed is not None:
            return queryset.filter(cpr_hash=keyed_hash(CPR_PURPOSE, parsed.digits)), False
        return super().get_search_results(request, queryset, search_term)

    # --- enrollment: the add page --------------------------------------------------------------

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = EnrollmentForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                citizen, code, expires_at = citizen_enroll(
                    cpr=form.cleaned_data["cpr"], name=form.cleaned_data["name"], actor=admin_actor(request)
                )
            except ApplicationError as error:
                apply_application_error(form, error)
            else:
                self.log_addition(request, citizen, [{"added": {}}])
                change_url = reverse("admin:citizens_citizen_change", args=[citizen.pk])
                item = ShownOnce(
                    f"{citizen.name} ({citizen.user_id})",
                    [
                        ("User ID", citizen.user_id),
                        ("Activation code", code),
                        ("Expires", rfc3339(expires_at, whole_seconds=True)),
                    ],
                    change_url,
                )
                return secrets_page(request, self, title="Citizen enrolled", items=[item], back_url=change_url)
        return form_page(
            request,
            self,
            title="Enroll citizen",
            form=form,
            submit_label="Enroll",
            intro="Checks eligibility (valid CPR, 15 or older today) and issues an activation code.",
        )

    # --- actions and buttons -------------------------------------------------------------------

    def _issue(self, request: HttpRequest, citizens: list[Citizen]) -> HttpResponse:
        items = []
        for citizen in citizens:
            code, row = activation_code_issue(citizen=citizen, actor=admin_actor(request))
            url = reverse("admin:citizens_citizen_change", args=[citizen.pk])
            items.append(
                ShownOnce(
                    f"{citizen.name} ({citizen.user_id})",
                    [("Activation code", code), ("Expires", rfc3339(row.expires_at, whole_seconds=True))],
                    url,
                )
            )
        back = reverse("admin:citizens_citizen_changelist") if len(citizens) != 1 else items[0].url
        return secrets_page(request, self, title="Activation codes issued", items=items, back_url=back)

    @admin.action(description="Issue a new activation code (supersedes unused ones)", permissions=["change"])
    def issue_activation_codes(self, request: HttpRequest, queryset: QuerySet[Citizen]) -> HttpResponse:
        return self._issue(request, list(queryset))

    def _unlock(self, request: HttpRequest, citizens: list[Citizen]) -> None:
        for citizen in citizens:
            try:
                locks.citizen_unlock(citizen=citizen, actor=admin_actor(request))
            except ApplicationError as error:
                self.message_user(request, f"{citizen.user_id}: {error.detail}", messages.ERROR)
            else:
                self.message_user(request, f"{citizen.user_id} unlocked.", messages.SUCCESS)

    @admin.action(description="Unlock (clear the lock, failed attempts and fraud login block)", permissions=["change"])
    def unlock_citizens(self, request: HttpRequest, queryset: QuerySet[Citizen]) -> None:
        self._unlock(request, list(queryset))

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<path:object_id>/issue-activation-code/",
                self.admin_site.admin_view(self.issue_code_view),
                name="citizens_citizen_issue_activation_code",
            ),
            path("<path:object_id>/unlock/", self.admin_site.admin_view(self.unlock_view), name="citizens_citizen_unlock"),
        ]
        return own + super().get_urls()

    def _citizen_for_button(self, request: HttpRequest, object_id: str) -> Citizen:
        if not self.has_change_permission(request) or not object_id.isdigit():
            raise PermissionDenied
        return get_object_or_404(Citizen, pk=int(object_id))

    def issue_code_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        return self._issue(request, [self._citizen_for_button(request, object_id)])

    def unlock_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        citizen = self._citizen_for_button(request, object_id)
        self._unlock(request, [citizen])
        return HttpResponseRedirect(reverse("admin:citizens_citizen_change", args=[citizen.pk]))


@admin.register(ActivationCode)
class ActivationCodeAdmin(admin.ModelAdmin):
    """Read-only: codes are issued from the citizens' page; hashes are never shown."""

    list_display = ("citizen", "created_at", "expires_at", "used_at", "created_by", "state")
    list_select_related = ("citizen",)
    search_fields = ("citizen__user_id", "citizen__name")
    list_filter = ("created_at", "used_at")
    fields = ("citizen", "created_at", "expires_at", "used_at", "created_by", "state")
    readonly_fields = fields

    @admin.display(description="state")
    def state(self, obj: ActivationCode) -> str:
        return activation_code_state(obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
