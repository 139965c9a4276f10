from django.apps import AppConfig


class RelyingPartiesConfig(AppConfig):
    name = "relying_parties"
    verbose_name = "Relying parties"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit.actors import register_actor_namer
        from relying_parties import schema  # noqa: F401 - registers the OpenAPI auth extension
        from relying_parties.selectors import relying_party_actor_name

        register_actor_namer("rp", relying_party_actor_name)
