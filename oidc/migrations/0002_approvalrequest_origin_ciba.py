"""Mark the approvals that CIBA made before ApprovalRequest.origin existed, so that the finalized
hook (oidc.hooks) still pings for those still pending."""

from django.db import migrations

CIBA = "ciba"  # oidc.ciba.APPROVAL_ORIGIN when this was written


def mark_ciba_approvals(apps, schema_editor):  # type: ignore[no-untyped-def]
    ApprovalRequest = apps.get_model("approvals", "ApprovalRequest")
    BackchannelRequest = apps.get_model("oidc", "BackchannelRequest")
    ApprovalRequest.objects.filter(id__in=BackchannelRequest.objects.values("approval_id")).update(origin=CIBA)


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0004_approvalrequest_origin"),
        ("oidc", "0001_initial"),
    ]

    operations = [migrations.RunPython(mark_ciba_approvals, migrations.RunPython.noop)]
