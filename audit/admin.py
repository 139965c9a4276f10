"""The audit log in the admin: read-only (no add, change or delete), filterable by action and object type."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from audit.actors import actor_display
from audit.models import AuditEntry
from audit.selectors import audit_chain_verify


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("seq", "created_at", "action", "actor_name", "object_type", "object_id")
    list_filter = ("action", "object_type", "created_at")
    search_fields = ("object_id", "actor", "action")
    fields = ("seq", "created_at", "action", "actor_name", "object_type", "object_id", "data_pretty", "prev_hash", "hash")
    readonly_fields = fields
    ordering = ("-seq",)
    show_full_result_count = False
    change_list_template = "admin/audit/auditentry/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        return [
            path("verify/", self.admin_site.admin_view(self.verify_view), name="audit_auditentry_verify"),
            *super().get_urls(),
        ]

    def verify_view(self, request: HttpRequest) -> HttpResponse:
        """The same check as `manage.py verify_audit_log`."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        report = audit_chain_verify()
        if report.ok:
            self.message_user(request, f"Hash chain intact: {report.entries} entries verified.", messages.SUCCESS)
        else:
            self.message_user(request, f"Hash chain BROKEN at entry {report.broken_seq}: {report.reason}.", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:audit_auditentry_changelist"))

    @admin.display(description="actor", ordering="actor")
    def actor_name(self, obj: AuditEntry) -> str:
        return actor_display(obj.actor)

    @admin.display(description="data")
    def data_pretty(self, obj: AuditEntry) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2, sort_keys=True, ensure_ascii=False))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
