from django.apps import AppConfig


class ThreedsConfig(AppConfig):
    name = "threeds"
    verbose_name = "3-D Secure"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from approvals.events import register_webhook_content
        from threeds.selectors import threeds_webhook_content

        # A request made by an authentication ends with a `3ds.result` webhook carrying the RReq.
        register_webhook_content(threeds_webhook_content)
