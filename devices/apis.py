"""HTTP endpoints of devices (docs/contract §4): registration by activation code, and the device's own resource."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from citizens.models import Citizen
from citizens.services import citizen_password_set
from devices.authentication import DeviceTokenAuthentication
from devices.challenges import device_challenge_create, device_register_by_challenge
from devices.models import Device
from devices.selectors import device_of_citizen, devices_of_citizen
from devices.serializers import (
    CitizenDeviceListSerializer,
    CitizenDeviceSerializer,
    DeviceChallengeInputSerializer,
    DeviceChallengeSerializer,
    DeviceProblemSerializer,
    DeviceRegisteredSerializer,
    DeviceRegistrationInputSerializer,
    DeviceSerializer,
    DeviceUpdateInputSerializer,
    PasswordInputSerializer,
)
from devices.services import device_register, device_revoke, device_update
from nemid_app_backend.client_address import client_address
from nemid_app_backend.exceptions import NotFoundError


class DeviceTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "devices.authentication.DeviceTokenAuthentication"
    name = "DeviceToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Device <device token>`: a compact JWS (typ device+jwt, kid = device_id) signed by the device key "
            "with iat, exp (at most 300 s later), a fresh jti, htm and htu of this request (docs/contract §1).",
        }


def _problem(description: str) -> OpenApiResponse:
    return OpenApiResponse(DeviceProblemSerializer, description=description)


def _client_address(request: Request) -> str:
    return client_address(request.META)


def _device(request: Request) -> Device:
    device = request.user
    assert isinstance(device, Device)  # DeviceTokenAuthentication either sets a Device or raises 401
    return device


class DeviceRegistrationApi(APIView):
    """Public: the activation code and the proof of possession are the credentials."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="device_register",
        summary="Register a device (bind a public key) with an activation code, or by answering a challenge",
        tags=["devices"],
        auth=[],
        request=DeviceRegistrationInputSerializer,
        responses={
            201: DeviceRegisteredSerializer,
            400: _problem(
                "validation_error, invalid_public_key, invalid_proof, invalid_activation_code, or invalid_credentials "
                "(a challenge's answer: any part wrong, or the challenge unknown, used or expired)"
            ),
            409: _problem("device_limit_reached, or device_already_registered (this key is already bound)"),
            429: _problem(
                "too_many_attempts (failed registrations per client address, per code and per citizen); see Retry-After"
            ),
            503: _problem("registration_suspended (too many failed registrations across the service); see Retry-After"),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = DeviceRegistrationInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "challenge" in data:
            device = device_register_by_challenge(
                challenge=data["challenge"],
                public_key=data["public_key"],
                name=data["name"],
                platform=data["platform"],
                push=data.get("push"),
                proof=data["proof"],
                client_address=_client_address(request),
            )
            return Response(DeviceRegisteredSerializer(device).data, status=status.HTTP_201_CREATED)
        device = device_register(
            activation_code=data["activation_code"],
            public_key=data["public_key"],
            name=data["name"],
            platform=data["platform"],
            push=data.get("push"),
            proof=data["proof"],
            client_address=_client_address(request),
        )
        return Response(DeviceRegisteredSerializer(device).data, status=status.HTTP_201_CREATED)


class DeviceChallengeApi(APIView):
    """Public: a challenge reveals nothing (a user ID without a citizen gets one of the same shape)."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="device_challenge_create",
        summary="A challenge to activate a new device with the password and a key card or key fob code",
        tags=["devices"],
        auth=[],
        request=DeviceChallengeInputSerializer,
        responses={
            201: DeviceChallengeSerializer,
            400: _problem("validation_error (a user ID is 10 digits)"),
            429: _problem("too_many_attempts (challenges per client address); see Retry-After"),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = DeviceChallengeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        challenge = device_challenge_create(user_id=serializer.validated_data["user_id"], client_address=_client_address(request))
        return Response(DeviceChallengeSerializer(challenge).data, status=status.HTTP_201_CREATED)


class DeviceApi(APIView):
    authentication_classes = [DeviceTokenAuthentication]

    @extend_schema(
        operation_id="device_retrieve",
        summary="The calling device",
        tags=["devices"],
        responses={200: DeviceSerializer, 401: _problem("invalid_device_token")},
    )
    def get(self, request: Request) -> Response:
        return Response(DeviceSerializer(_device(request)).data)

    @extend_schema(
        operation_id="device_update",
        summary="Rename the calling device or change its push settings",
        tags=["devices"],
        request=DeviceUpdateInputSerializer,
        responses={200: DeviceSerializer, 400: _problem("validation_error"), 401: _problem("invalid_device_token")},
    )
    def patch(self, request: Request) -> Response:
        device = _device(request)
        serializer = DeviceUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        device = device_update(device=device, actor=f"device:{device.id}", **serializer.validated_data)
        return Response(DeviceSerializer(device).data)

    @extend_schema(
        operation_id="device_revoke",
        summary="Revoke the calling device for good",
        tags=["devices"],
        request=None,
        responses={
            204: OpenApiResponse(description="Revoked; the device can never authenticate again."),
            401: _problem("invalid_device_token"),
        },
    )
    def delete(self, request: Request) -> Response:
        device = _device(request)
        device_revoke(device=device, actor=f"device:{device.id}", reason="revoked by the device")
        return Response(status=status.HTTP_204_NO_CONTENT)


class DevicePasswordApi(APIView):
    """The citizen's password (docs/contract §9), set and changed only from an enrolled device."""

    authentication_classes = [DeviceTokenAuthentication]

    @extend_schema(
        operation_id="device_password_set",
        summary="Set or change the citizen's password",
        tags=["devices"],
        request=PasswordInputSerializer,
        responses={
            204: OpenApiResponse(description="The password is set."),
            400: _problem("weak_password (with `reason`), or validation_error (current_password missing)"),
            401: _problem("invalid_device_token, or invalid_credentials (the current password is wrong)"),
            429: _problem("too_many_attempts: the password is throttled or the citizen locked; see Retry-After"),
        },
    )
    def put(self, request: Request) -> Response:
        device = _device(request)
        serializer = PasswordInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        citizen_password_set(
            citizen=Citizen.objects.get(pk=device.citizen_id),
            password=data["password"],
            current_password=data.get("current_password"),
            actor=f"device:{device.id}",
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class CitizenDevicesApi(APIView):
    """The citizen's devices, seen from one of them (docs/contract §9: a lost phone)."""

    authentication_classes = [DeviceTokenAuthentication]

    @extend_schema(
        operation_id="citizen_devices_list",
        summary="Every device of the calling device's citizen, active and revoked, newest first",
        tags=["devices"],
        responses={200: CitizenDeviceListSerializer, 401: _problem("invalid_device_token")},
    )
    def get(self, request: Request) -> Response:
        device = _device(request)
        devices = devices_of_citizen(citizen_id=device.citizen_id)
        items = CitizenDeviceSerializer(devices, many=True, context={"current_device_id": device.id}).data
        return Response({"devices": items})


class CitizenDeviceApi(APIView):
    authentication_classes = [DeviceTokenAuthentication]

    @extend_schema(
        operation_id="citizen_device_revoke",
        summary="Revoke another device (or this one) of the same citizen",
        tags=["devices"],
        request=None,
        responses={
            204: OpenApiResponse(description="Revoked: its sockets close, its tokens and pending decisions fail with 401."),
            401: _problem("invalid_device_token"),
            404: _problem("not_found: no device of this citizen has this id"),
        },
    )
    def delete(self, request: Request, device_id: str) -> Response:
        device = _device(request)
        target = device_of_citizen(citizen_id=device.citizen_id, device_id=device_id)
        if target is None:
            raise NotFoundError()
        reason = "revoked by the device" if target.id == device.id else "revoked from another device of the citizen"
        device_revoke(device=target, actor=f"device:{device.id}", reason=reason)
        return Response(status=status.HTTP_204_NO_CONTENT)
