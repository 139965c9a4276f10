"""The 3-D Secure HTTP API (docs/contract §8): thin views over threeds.services and threeds.selectors."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals.services import approval_request_expire_if_overdue
from relying_parties.authentication import RelyingPartyAuthentication
from relying_parties.models import RelyingParty
from threeds import selectors, services
from threeds.serializers import AReqSerializer, AResSerializer, RReqSerializer


def _relying_party(request: Request) -> RelyingParty:
    rp = request.user  # set by RelyingPartyAuthentication, which refuses every request without a valid key
    assert isinstance(rp, RelyingParty)
    return rp


PROBLEM = OpenApiResponse(description="Problem details (application/problem+json) with a stable `code`.")


class ThreeDSAuthenticationCreateApi(APIView):
    authentication_classes = [RelyingPartyAuthentication]

    @extend_schema(
        operation_id="threeds_authentication_create",
        summary="Start a decoupled 3-D Secure authentication (AReq -> ARes)",
        description=(
            "The decoupled-authentication subset of an EMV 3DS 2.2 AReq. `D` with `acsDecConInd` `Y`: a payment "
            "approval was created for the card's citizen (`acsTransID` is its id). `N` with `transStatusReason` "
            '"08": card unknown. `U`: the citizen has no active device ("13") or is locked ("12"). A repeated AReq '
            "with the same `threeDSServerTransID` returns the first ARes; the same id with a different transaction is "
            "422 `idempotency_key_reused`. Unknown AReq fields are ignored."
        ),
        request=AReqSerializer,
        examples=[
            OpenApiExample(
                "Checkout with the test card",
                value={
                    "messageVersion": "2.2.0",
                    "threeDSServerTransID": "8a880dc0-d2d2-4067-bcb1-b08d1690b26e",
                    "acctNumber": "4111111111111111",
                    "purchaseAmount": "14995",
                    "purchaseCurrency": "208",
                    "purchaseExponent": "2",
                    "merchantName": "Webshop ApS",
                    "threeDSRequestorDecReqInd": "Y",
                    "threeDSRequestorDecMaxTime": "00005",
                },
                request_only=True,
            )
        ],
        responses={
            200: AResSerializer,
            400: PROBLEM,
            401: PROBLEM,
            403: OpenApiResponse(description="`type_not_allowed`: the relying party is not allowed `3ds`."),
            422: PROBLEM,
            429: OpenApiResponse(
                description="`rate_limited` (the prompt limits of the card's citizen or of the relying party, with "
                "Retry-After; nothing is stored, the same AReq may be sent again after it) or `too_many_pending`."
            ),
        },
        tags=["3-D Secure"],
    )
    def post(self, request: Request) -> Response:
        authentication = services.threeds_authentication_create(relying_party=_relying_party(request), data=request.data)
        return Response(selectors.threeds_ares(authentication))


class ThreeDSAuthenticationDetailApi(APIView):
    authentication_classes = [RelyingPartyAuthentication]

    @extend_schema(
        operation_id="threeds_authentication_result",
        summary="The result of a 3-D Secure authentication (RReq)",
        description=(
            "`Y` approved, with `authenticationValue` and `eci` `05`; `N` denied or failed; `U` with `challengeCancel` "
            '"03" expired (reported as soon as `expires_at` has passed) or "07" cancelled; `D` while pending. '
            "Another relying party's id is 404. The same body is the data of the `3ds.result` webhook."
        ),
        parameters=[
            OpenApiParameter("acs_trans_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The ARes acsTransID.")
        ],
        responses={200: RReqSerializer, 401: PROBLEM, 404: PROBLEM},
        tags=["3-D Secure"],
    )
    def get(self, request: Request, acs_trans_id: str) -> Response:
        authentication = selectors.threeds_authentication_get(acs_trans_id=acs_trans_id, relying_party=_relying_party(request))
        if authentication.approval is not None:
            # Lazy expiry: past expires_at the request is recorded as expired before the beat task gets to it.
            authentication.approval = approval_request_expire_if_overdue(approval=authentication.approval)
        return Response(selectors.threeds_rreq(authentication))
