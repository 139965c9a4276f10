"""Shapes of the checkpoint endpoint (docs/contract §7): the query it takes and what it answers."""

from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers


class CheckpointQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, default=0, help_text="Only checkpoints past this chain position.")
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100, help_text="At most this many (1-1000).")


class CheckpointSerializer(serializers.Serializer):
    seq = serializers.IntegerField(help_text="Chain position: the log's first `seq` sealed entries.")
    hash = serializers.CharField(help_text="Hex keyed hash of the chain at that position.")
    sealed_at = serializers.DateTimeField()
    jws = serializers.CharField(
        help_text="Compact JWS (ES256, typ audit-checkpoint+jwt, kid in /.well-known/jwks.json) over "
        '{"iss", "seq", "hash", "sealed_at"}: keep it, and give it to verify_audit_log --checkpoint.'
    )


class CheckpointListSerializer(serializers.Serializer):
    checkpoints = CheckpointSerializer(many=True)
    latest = CheckpointSerializer(allow_null=True, help_text="The newest checkpoint, whatever `after` is.")


ProblemSerializer = inline_serializer(
    name="AuditProblem",
    fields={
        "type": serializers.CharField(default="about:blank"),
        "title": serializers.CharField(),
        "status": serializers.IntegerField(),
        "detail": serializers.CharField(),
        "code": serializers.CharField(),
        "errors": serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False),
    },
)
