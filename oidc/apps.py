from django.apps import AppConfig


class OidcConfig(AppConfig):
    name = "oidc"
    verbose_name = "OpenID Connect"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from approvals import events
        from oidc import hooks

        events.register_finalized_hook(hooks.approval_finalized)
