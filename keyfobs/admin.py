"""Operator admin for key fobs: import a vendor's PSKC file, assign a fob to a citizen by serial,
see every fob's state (last use, wrong codes, blocked until), revoke. Never a seed."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from citizens.admin import register_citizen_inline
from citizens.selectors import citizen_get_by_user_id
from keyfobs.app_settings import app_settings
from keyfobs.models import KeyFob
from keyfobs.services import key_fob_assign, key_fob_revoke, key_fobs_import
from nemid_app_backend.admin_pages import ServiceOnlyChangeMixin, admin_actor, apply_application_error, form_page
from nemid_app_backend.exceptions import ApplicationError


class ImportForm(forms.Form):
    file = forms.FileField(label="PSKC file", help_text="RFC 6030, as the fob vendor ships it.")
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput,
        help_text="For an encrypted file: the password its key is derived from (not stored).",
    )


class AssignForm(forms.Form):
    serial = forms.CharField(max_length=64, help_text="The serial printed on the fob.")
    user_id = forms.CharField(label="User ID", max_length=10, help_text="The citizen's 10-digit user ID.")


@admin.register(KeyFob)
class KeyFobAdmin(ServiceOnlyChangeMixin, admin.ModelAdmin):
    list_display = ("serial", "status", "citizen", "assigned_at", "last_used_at", "failures", "blocked_until", "manufacturer")
    list_select_related = ("citizen",)
    list_filter = ("status", "manufacturer")
    search_fields = ("serial", "citizen__user_id", "citizen__name")
    ordering = ("serial",)
    fields = (
        "serial", "manufacturer", "status", "citizen", "digits", "period", "digest", "imported_at", "imported_by",
        "assigned_at", "last_used_at", "failures", "blocked_until", "revoked_at",
    )  # fmt: skip
    readonly_fields = fields
    actions = ["revoke_fobs"]
    change_list_template = "admin/keyfobs/keyfob/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        own = [
            path("assign/", self.admin_site.admin_view(self.assign_view), name="keyfobs_keyfob_assign"),
        ]
        return own + super().get_urls()

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Import fobs from a PSKC file."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > app_settings.MAX_IMPORT_BYTES:
                form.add_error("file", f"At most {app_settings.MAX_IMPORT_BYTES} bytes.")
            else:
                try:
                    result = key_fobs_import(
                        source=upload.read(), actor=admin_actor(request), password=form.cleaned_data["password"] or None
                    )
                except ApplicationError as error:
                    apply_application_error(form, error)
                else:
                    self.message_user(
                        request, f"Imported {len(result.serials)} key fob(s): {', '.join(result.serials)}.", messages.SUCCESS
                    )
                    for item in result.skipped:
                        self.message_user(request, f"Skipped {item['serial']}: {item['reason']}.", messages.WARNING)
                    return HttpResponseRedirect(reverse("admin:keyfobs_keyfob_changelist"))
        return form_page(
            request,
            self,
            title="Import key fobs",
            form=form,
            submit_label="Import",
            intro="Seeds are stored encrypted and never shown.",
        )

    def assign_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = AssignForm(
            request.POST or None, initial={"serial": request.GET.get("serial", ""), "user_id": request.GET.get("user_id", "")}
        )
        if request.method == "POST" and form.is_valid():
            try:
                citizen = citizen_get_by_user_id(user_id=form.cleaned_data["user_id"])
                fob = key_fob_assign(citizen=citizen, serial=form.cleaned_data["serial"], actor=admin_actor(request))
            except ApplicationError as error:
                apply_application_error(form, error)
            else:
                self.message_user(request, f"Key fob {fob.serial} assigned to {citizen.user_id}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:keyfobs_keyfob_change", args=[fob.pk]))
        return form_page(
            request,
            self,
            title="Assign key fob",
            form=form,
            submit_label="Assign",
            intro="A citizen holds one fob: a fob already assigned to the citizen is revoked and replaced.",
        )

    @admin.action(description="Revoke (the fob accepts no code again)", permissions=["change"])
    def revoke_fobs(self, request: HttpRequest, queryset: QuerySet[KeyFob]) -> None:
        revoked = 0
        for fob in queryset.exclude(status=KeyFob.Status.REVOKED):
            key_fob_revoke(fob=fob, actor=admin_actor(request), reason="revoked by an operator")
            revoked += 1
        self.message_user(request, f"{revoked} key fob(s) revoked.", messages.SUCCESS)


class KeyFobInline(admin.TabularInline):
    model = KeyFob
    verbose_name = "key fob"
    fields = ("link", "status", "assigned_at", "last_used_at", "failures", "blocked_until")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-assigned_at",)

    @admin.display(description="key fob")
    def link(self, obj: KeyFob) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:keyfobs_keyfob_change", args=[obj.pk]), obj.serial)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


register_citizen_inline(KeyFobInline)
