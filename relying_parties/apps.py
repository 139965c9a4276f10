from django.apps import AppConfig


class RelyingPartiesConfig(AppConfig):
    name = "relying_parties"
    default_auto_field = "django.db.models.BigAutoField"
