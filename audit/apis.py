"""The published audit checkpoints (docs/contract §7).

Public on purpose, like a Certificate Transparency log's signed tree heads: tamper evidence is only as
strong as the number of independent parties who keep copies, so auditors, relying parties and anyone
else may fetch and keep them without an account. A checkpoint carries no personal data: a position in
the chain, a keyed hash, a time and the server's signature. What it does reveal is how many state
changes the service has recorded, at one-minute granularity.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.selectors import audit_checkpoint_latest, audit_checkpoints
from audit.serializers import CheckpointListSerializer, CheckpointQuerySerializer, CheckpointSerializer, ProblemSerializer


class AuditCheckpointsApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="audit_checkpoints_list",
        summary="Signed checkpoints of the audit log, for auditors to keep",
        tags=["audit"],
        auth=[],
        parameters=[CheckpointQuerySerializer],
        responses={200: CheckpointListSerializer, 400: OpenApiResponse(ProblemSerializer, description="validation_error")},
    )
    def get(self, request: Request) -> Response:
        query = CheckpointQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        checkpoints = audit_checkpoints(after=query.validated_data["after"], limit=query.validated_data["limit"])
        latest = audit_checkpoint_latest()
        body = {
            "checkpoints": CheckpointSerializer(checkpoints, many=True).data,
            "latest": CheckpointSerializer(latest).data if latest is not None else None,
        }
        return Response(body, headers={"Cache-Control": "public, max-age=30"})
