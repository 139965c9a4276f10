from django.apps import AppConfig


class SigningConfig(AppConfig):
    name = "signing"
    verbose_name = "Signing keys"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit.hooks import CheckpointSigner, register_checkpoint_signer
        from signing.services import audit_checkpoint_sign, audit_checkpoint_verify

        # The audit log's checkpoints are signed with the server's signing keys (docs/contract §7).
        register_checkpoint_signer(CheckpointSigner(sign=audit_checkpoint_sign, verify=audit_checkpoint_verify))
