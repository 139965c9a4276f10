from django.apps import AppConfig


class RelyingPartiesConfig(AppConfig):
    name = "relying_parties"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from relying_parties import schema  # noqa: F401 - registers the OpenAPI auth extension
