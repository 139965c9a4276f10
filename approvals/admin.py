"""Operators see approval requests read-only: the status only ever changes through the services."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from approvals.models import ApprovalRequest


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(admin.ModelAdmin):
    list_display = ("id", "type", "status", "relying_party", "user_id", "created_at", "expires_at", "fraud_reported")
    list_filter = ("status", "type", "relying_party", "fraud_reported")
    search_fields = ("=id", "=citizen__user_id")
    list_select_related = ("relying_party", "citizen")
    date_hierarchy = "created_at"
    # The verification code is the RP's to show; operators do not need it.
    exclude = ("verification_code",)
    ordering = ("-created_at",)

    @admin.display(description="user ID", ordering="citizen__user_id")
    def user_id(self, obj: ApprovalRequest) -> str:
        return obj.citizen.user_id

    def get_readonly_fields(self, request: HttpRequest, obj: ApprovalRequest | None = None) -> list[str]:
        return [field.name for field in self.model._meta.fields if field.name != "verification_code"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ApprovalRequest | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApprovalRequest | None = None) -> bool:
        return False
