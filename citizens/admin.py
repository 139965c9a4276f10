"""Operator admin for citizens, activation codes and the requests for them.

Four eyes: no operator alone gets an activation code here. Enrollment, the citizens' action and the
citizen page's button only *request* a code (with a reason); another operator who holds
`citizens.approve_activation_code` approves it on the requests' page, and only then is the code made
(activation_code_request_approve) and shown to that operator, once. The CPR number is never
displayed (masked only), nor are code hashes. Searching by a full CPR number works: the typed number
is hashed and matched, never stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from accounts.models import User
from citizens import cpr as cpr_parser
from citizens import locks
from citizens.models import ActivationCode, ActivationCodeRequest, Citizen
from citizens.selectors import activation_code_request_awaiting_for_citizen
from citizens.services import (
    APPROVE_PERMISSION,
    CPR_PURPOSE,
    activation_code_request_approve,
    activation_code_request_cancel,
    activation_code_request_create,
    activation_code_request_refusal,
    activation_code_request_reject,
    citizen_enroll_requesting_code,
)
from nemid_app_backend.admin_pages import (
    ServiceOnlyChangeMixin,
    ShownOnce,
    admin_actor,
    apply_application_error,
    form_page,
    secrets_page,
)
from nemid_app_backend.exceptions import ApplicationError, ValidationError
from nemid_app_backend.parsers import row_id
from nemid_app_backend.secrets import keyed_hash
from nemid_app_backend.timefmt import rfc3339


class EnrollmentForm(forms.Form):
    cpr = forms.CharField(
        label="CPR number", max_length=11, help_text="DDMMYY-SSSS. Never stored: only a keyed hash and DDMMYY-XXXX."
    )
    name = forms.CharField(max_length=200)
    reason = forms.CharField(
        label="Reason for the first activation code",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Read by the second operator who approves the code (e.g. identity checked at the desk, letter to follow).",
    )


class ActivationCodeRequestForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why the citizen needs a new code (e.g. new phone, identity checked at the desk). "
        "Read by the second operator who approves it.",
    )


def admin_operator(request: HttpRequest) -> User:
    """The signed-in staff account (the admin site lets no one else in)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def activation_code_request_summary(code_request: ActivationCodeRequest | None) -> str:
    if code_request is None:
        return "none waiting for approval"
    return (
        f"#{code_request.pk} requested by {code_request.requested_by.get_username()} at "
        f"{rfc3339(code_request.requested_at, whole_seconds=True)}, waiting for another operator's approval "
        f"until {rfc3339(code_request.expires_at, whole_seconds=True)}"
    )


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


class ActivationCodeRequestInline(admin.TabularInline):
    model = ActivationCodeRequest
    fk_name = "citizen"
    fields = ("request_link", "requested_at", "requested_by", "reason", "state", "decided_by", "decided_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "activation code requests (four eyes)"

    @admin.display(description="request")
    def request_link(self, obj: ActivationCodeRequest) -> str:
        return format_html('<a href="{}">#{}</a>', reverse("admin:citizens_activationcoderequest_change", args=[obj.pk]), obj.pk)

    @admin.display(description="state")
    def state(self, obj: ActivationCodeRequest) -> str:
        return obj.state()

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
        "password_state_display", "activation_code_request_display",
    )  # fmt: skip
    readonly_fields = fields
    inlines = [ActivationCodeInline, ActivationCodeRequestInline]
    actions = ["request_activation_codes", "unlock_citizens"]
    change_form_template = "admin/citizens/citizen/change_form.html"

    @admin.display(description="lock state")
    def lock_state_display(self, obj: Citizen) -> str:
        return lock_state(obj)

    @admin.display(description="password")
    def password_state_display(self, obj: Citizen) -> str:
        return password_state(obj)

    @admin.display(description="activation code request")
    def activation_code_request_display(self, obj: Citizen) -> str:
        return activation_code_request_summary(activation_code_request_awaiting_for_citizen(citizen=obj))

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
                citizen, code_request = citizen_enroll_requesting_code(
                    cpr=form.cleaned_data["cpr"],
                    name=form.cleaned_data["name"],
                    reason=form.cleaned_data["reason"],
                    operator=admin_operator(request),
                    actor=admin_actor(request),
                )
            except ApplicationError as error:
                apply_application_error(form, error)
            else:
                self.log_addition(request, citizen, [{"added": {}}])
                self.message_user(
                    request,
                    f"{citizen.name} enrolled with user ID {citizen.user_id}. The first activation code was requested "
                    f"(#{code_request.pk}): another operator with the approve permission must approve it, and will see the code.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:citizens_citizen_change", args=[citizen.pk]))
        return form_page(
            request,
            self,
            title="Enroll citizen",
            form=form,
            submit_label="Enroll",
            intro="Checks eligibility (valid CPR, 15 or older today) and requests the first activation code, "
            "which another operator must approve.",
        )

    # --- actions and buttons -------------------------------------------------------------------

    @admin.action(description="Request a new activation code (another operator approves)", permissions=["change"])
    def request_activation_codes(self, request: HttpRequest, queryset: QuerySet[Citizen]) -> HttpResponse:
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(reverse("admin:citizens_citizen_request_activation_code") + "?" + urlencode({"ids": ids}))

    def request_code_view(self, request: HttpRequest) -> HttpResponse:
        """Ask for the reason, then request a code for each citizen in `?ids=`; no code is made here."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        ids = [number for number in map(row_id, request.GET.get("ids", "").split(",")) if number is not None]
        citizens = list(Citizen.objects.filter(pk__in=ids).order_by("pk"))
        if not citizens:
            self.message_user(request, "Select the citizens who need an activation code first.", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:citizens_citizen_changelist"))
        form = ActivationCodeRequestForm(request.POST or None)
        if request.method == "POST" and form.is_valid() and self._request_codes(request, form, citizens):
            if len(citizens) == 1:
                return HttpResponseRedirect(reverse("admin:citizens_citizen_change", args=[citizens[0].pk]))
            return HttpResponseRedirect(reverse("admin:citizens_activationcoderequest_changelist") + "?state=awaiting")
        return form_page(
            request,
            self,
            title="Request activation code",
            form=form,
            submit_label="Request",
            intro=f"For {', '.join(str(citizen) for citizen in citizens)}. No code is made now: another operator "
            "with the approve permission approves the request and hands the code over.",
        )

    def _request_codes(self, request: HttpRequest, form: ActivationCodeRequestForm, citizens: list[Citizen]) -> bool:
        """Request a code for each citizen; False when the reason itself was refused (shown on the form)."""
        for citizen in citizens:
            try:
                code_request = activation_code_request_create(
                    citizen=citizen,
                    reason=form.cleaned_data["reason"],
                    operator=admin_operator(request),
                    actor=admin_actor(request),
                )
            except ValidationError as error:
                apply_application_error(form, error)
                return False
            except ApplicationError as error:
                self.message_user(request, f"{citizen}: {error.detail}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{citizen}: activation code requested (#{code_request.pk}); another operator with the approve "
                    f"permission must approve it before {rfc3339(code_request.expires_at, whole_seconds=True)}.",
                    messages.SUCCESS,
                )
        return True

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
                "request-activation-code/",
                self.admin_site.admin_view(self.request_code_view),
                name="citizens_citizen_request_activation_code",
            ),
            path("<path:object_id>/unlock/", self.admin_site.admin_view(self.unlock_view), name="citizens_citizen_unlock"),
        ]
        return own + super().get_urls()

    def _citizen_for_button(self, request: HttpRequest, object_id: str) -> Citizen:
        if not self.has_change_permission(request) or row_id(object_id) is None:
            raise PermissionDenied
        return get_object_or_404(Citizen, pk=row_id(object_id))

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


class ActivationCodeRequestStateFilter(admin.SimpleListFilter):
    """The state an operator reads: a pending request past its expiry is expired, not waiting."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("awaiting", "awaiting approval"),
            ("approved", "approved"),
            ("rejected", "rejected"),
            ("expired", "expired"),
            ("cancelled", "cancelled"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ActivationCodeRequest]) -> QuerySet[ActivationCodeRequest]:
        now = timezone.now()
        pending = Q(status=ActivationCodeRequest.Status.PENDING)
        value = self.value()
        if value == "awaiting":
            return queryset.filter(pending, expires_at__gt=now)
        if value == "expired":
            return queryset.filter(Q(status=ActivationCodeRequest.Status.EXPIRED) | (pending & Q(expires_at__lte=now)))
        if value in ActivationCodeRequest.Status.values:
            return queryset.filter(status=value)
        return queryset


@admin.register(ActivationCodeRequest)
class ActivationCodeRequestAdmin(admin.ModelAdmin):
    """The second pair of eyes: requests are approved, rejected or cancelled here, through the
    services, never edited. Approving shows the new code once; the request never holds it."""

    list_display = (
        "id", "citizen", "requested_by", "requested_at", "reason", "state_display", "expires_at", "decided_by", "decided_at",
    )  # fmt: skip
    list_select_related = ("citizen", "requested_by", "decided_by")
    list_filter = (ActivationCodeRequestStateFilter,)
    search_fields = ("citizen__user_id", "citizen__name", "requested_by__username")
    ordering = ("-requested_at",)
    fields = (
        "citizen", "reason", "requested_by", "requested_at", "expires_at", "state_display", "decided_by", "decided_at",
        "activation_code",
    )  # fmt: skip
    readonly_fields = fields
    actions = ["approve_requests", "reject_requests", "cancel_requests"]
    change_form_template = "admin/citizens/activationcoderequest/change_form.html"

    @admin.display(description="state")
    def state_display(self, obj: ActivationCodeRequest) -> str:
        return obj.state()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_approve_permission(self, request: HttpRequest) -> bool:
        """Offers the approve and reject actions; the services check again, with the own-request rule."""
        return request.user.has_perm(APPROVE_PERMISSION)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        number = row_id(object_id)
        code_request = ActivationCodeRequest.objects.filter(pk=number).first() if number is not None else None
        context = dict(extra_context or {})
        if code_request is not None:
            operator = admin_operator(request)
            refusal = activation_code_request_refusal(code_request, operator=operator)
            context["may_decide"] = refusal is None
            context["decision_refusal"] = refusal.detail if refusal is not None else ""
            context["may_cancel"] = (
                code_request.requested_by_id == operator.pk and code_request.state() == ActivationCodeRequest.Status.PENDING
            )
        return super().change_view(request, object_id, form_url, context)

    # --- decisions ------------------------------------------------------------------------------

    def _approve(self, request: HttpRequest, request_ids: list[int]) -> HttpResponse | None:
        items = []
        for request_id in request_ids:
            try:
                code_request, code, row = activation_code_request_approve(
                    request_id=request_id, operator=admin_operator(request), actor=admin_actor(request)
                )
            except ApplicationError as error:
                self.message_user(request, f"Request #{request_id} not approved: {error.detail}", messages.ERROR)
                continue
            citizen = code_request.citizen
            items.append(
                ShownOnce(
                    f"{citizen.name} ({citizen.user_id})",
                    [
                        ("Activation code", code),
                        ("Expires", rfc3339(row.expires_at, whole_seconds=True)),
                        ("Requested by", code_request.requested_by.get_username()),
                    ],
                    reverse("admin:citizens_citizen_change", args=[citizen.pk]),
                )
            )
        if not items:
            return None
        back = reverse("admin:citizens_activationcoderequest_changelist") + "?state=awaiting"
        return secrets_page(request, self, title="Activation codes issued", items=items, back_url=back)

    def _decide_each(self, request: HttpRequest, request_ids: list[int], decide: Callable[..., Any], done: str) -> None:
        for request_id in request_ids:
            try:
                decide(request_id=request_id, operator=admin_operator(request), actor=admin_actor(request))
            except ApplicationError as error:
                self.message_user(request, f"Request #{request_id} not {done}: {error.detail}", messages.ERROR)
            else:
                self.message_user(request, f"Request #{request_id} {done}.", messages.SUCCESS)

    @admin.action(description="Approve the selected requests (shows each code once)", permissions=["approve"])
    def approve_requests(self, request: HttpRequest, queryset: QuerySet[ActivationCodeRequest]) -> HttpResponse | None:
        return self._approve(request, list(queryset.values_list("pk", flat=True)))

    @admin.action(description="Reject the selected requests", permissions=["approve"])
    def reject_requests(self, request: HttpRequest, queryset: QuerySet[ActivationCodeRequest]) -> None:
        self._decide_each(request, list(queryset.values_list("pk", flat=True)), activation_code_request_reject, "rejected")

    @admin.action(description="Cancel the selected requests (your own)", permissions=["view"])
    def cancel_requests(self, request: HttpRequest, queryset: QuerySet[ActivationCodeRequest]) -> None:
        self._decide_each(request, list(queryset.values_list("pk", flat=True)), activation_code_request_cancel, "cancelled")

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(f"<path:object_id>/{name}/", self.admin_site.admin_view(view), name=f"citizens_activationcoderequest_{name}")
            for name, view in (("approve", self.approve_view), ("reject", self.reject_view), ("cancel", self.cancel_view))
        ]
        return own + super().get_urls()

    def _request_for_button(self, request: HttpRequest, object_id: str) -> ActivationCodeRequest:
        if not self.has_view_permission(request) or row_id(object_id) is None:
            raise PermissionDenied
        return get_object_or_404(ActivationCodeRequest, pk=row_id(object_id))

    def _back_to(self, code_request: ActivationCodeRequest) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:citizens_activationcoderequest_change", args=[code_request.pk]))

    def approve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        code_request = self._request_for_button(request, object_id)
        return self._approve(request, [code_request.pk]) or self._back_to(code_request)

    def reject_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        code_request = self._request_for_button(request, object_id)
        self._decide_each(request, [code_request.pk], activation_code_request_reject, "rejected")
        return self._back_to(code_request)

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        code_request = self._request_for_button(request, object_id)
        self._decide_each(request, [code_request.pk], activation_code_request_cancel, "cancelled")
        return self._back_to(code_request)
