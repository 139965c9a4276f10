from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from nemid_app_backend.metrics import register_collector
        from webhooks.metrics import webhook_outbox_metrics

        register_collector(webhook_outbox_metrics)
