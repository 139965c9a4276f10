"""Operators see every webhook event with its delivery attempts, and can redeliver."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from webhooks.models import WebhookAttempt, WebhookEvent
from webhooks.services import webhook_event_redeliver
from webhooks.tasks import deliver_webhook


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("attempted_at", "status_code", "error", "duration_ms")
    readonly_fields = fields
    ordering = ("attempted_at",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    ordering = ("-created_at",)
    list_display = (
        "msg_id",
        "event_type",
        "relying_party",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "delivered_at",
    )
    list_filter = ("status", "event_type")
    search_fields = ("msg_id", "object_id")
    list_select_related = ("relying_party",)
    readonly_fields = (
        "msg_id",
        "relying_party",
        "event_type",
        "url",
        "payload",
        "object_id",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "delivered_at",
        "last_error",
    )
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # read-only; the redeliver action is the one way to act on an event

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        """Redelivering changes an event (due again, sent again): it needs the change permission,
        which the page itself never uses (the fields stay read-only)."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Redeliver the selected events (same webhook-id)", permissions=["redeliver"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        actor = f"admin:{getattr(request.user, 'username', '')}"
        count = 0
        for event in queryset:
            webhook_event_redeliver(event=event, actor=actor)
            # Best effort: with the broker down, the beat's deliver_due_webhooks sends it later.
            transaction.on_commit(partial(deliver_webhook.apply_async, args=(event.pk,), retry=False), robust=True)
            count += 1
        self.message_user(request, f"{count} event(s) queued for redelivery.", messages.SUCCESS)
