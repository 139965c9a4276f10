"""The audit log in the admin: read-only (no add, change or delete), filterable by action and object type;
the checkpoints beside it; a button that seals and verifies the chain."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from audit.actors import actor_display
from audit.models import AuditCheckpoint, AuditEntry
from audit.selectors import audit_chain_verify
from audit.services import audit_seal


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "action", "actor_name", "object_type", "object_id", "seq")
    list_filter = ("action", "object_type", "created_at")
    list_select_related = ("seal",)
    search_fields = ("object_id", "actor", "action")
    fields = ("id", "created_at", "action", "actor_name", "object_type", "object_id", "data_pretty", "mac", "seq", "chain_hash")
    readonly_fields = fields
    ordering = ("-id",)
    show_full_result_count = False
    change_list_template = "admin/audit/auditentry/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        return [
            path("verify/", self.admin_site.admin_view(self.verify_view), name="audit_auditentry_verify"),
            *super().get_urls(),
        ]

    def verify_view(self, request: HttpRequest) -> HttpResponse:
        """The same as `manage.py verify_audit_log`: seal what can be sealed, then verify."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        audit_seal()
        report = audit_chain_verify()
        if report.ok:
            self.message_user(request, f"Hash chain intact: {report.entries} entries verified.", messages.SUCCESS)
        else:
            where = f"entry {report.broken_seq}" if report.broken_seq is not None else f"entry id {report.entry_id}"
            self.message_user(request, f"Hash chain BROKEN at {where}: {report.reason}.", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:audit_auditentry_changelist"))

    @admin.display(description="actor", ordering="actor")
    def actor_name(self, obj: AuditEntry) -> str:
        return actor_display(obj.actor)

    @admin.display(description="data")
    def data_pretty(self, obj: AuditEntry) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2, sort_keys=True, ensure_ascii=False))

    @admin.display(description="chain position")
    def seq(self, obj: AuditEntry) -> int | None:
        seal = getattr(obj, "seal", None)
        return seal.seq if seal is not None else None

    @admin.display(description="chain hash")
    def chain_hash(self, obj: AuditEntry) -> str:
        seal = getattr(obj, "seal", None)
        return seal.hash if seal is not None else "(not sealed yet)"


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("seq", "sealed_at", "hash")
    fields = ("seq", "sealed_at", "hash", "jws")
    readonly_fields = fields
    ordering = ("-seq",)
    show_full_result_count = False
