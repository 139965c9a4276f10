"""Request and response shapes of the device endpoints (docs/contract §4). Shape only: the rules are in services."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from devices.models import Device


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers, booleans and objects instead of turning them into strings."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class DevicePublicJwkSerializer(serializers.Serializer):
    kty = serializers.ChoiceField(choices=["EC", "OKP"], help_text="EC (P-256, ES256) or OKP (Ed25519, EdDSA).")
    crv = serializers.ChoiceField(choices=["P-256", "Ed25519"])
    x = serializers.CharField(help_text="base64url, 32 bytes.")
    y = serializers.CharField(required=False, help_text="base64url, 32 bytes (EC only).")


class DevicePushSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(choices=Device.PushProvider.choices)
    token = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="FCM registration token, APNs device token, or for webpush the browser's PushSubscription as a JSON string. None for provider none.",
    )


@extend_schema_field(DevicePublicJwkSerializer)
class PublicJwkField(serializers.JSONField):
    """Any JSON passes here; devices.crypto.load_public_jwk decides (400 invalid_public_key)."""


@extend_schema_field(DevicePushSerializer)
class PushField(serializers.JSONField):
    """Any JSON passes here; devices.services.push_settings_clean decides (400 validation_error)."""


class DeviceChallengeAnswerSerializer(serializers.Serializer):
    challenge_id = StrictCharField(max_length=64, help_text="From POST /api/v1/devices/challenges.")
    user_id = StrictCharField(max_length=64)
    password = StrictCharField(max_length=1024, trim_whitespace=False, allow_blank=True)
    key_card_code = StrictCharField(
        max_length=32, required=False, help_text="The code under the key number the challenge asked for."
    )
    key_fob_code = StrictCharField(max_length=32, required=False, help_text="The code the key fob shows now.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("key_card_code" in attrs) == ("key_fob_code" in attrs):
            raise serializers.ValidationError("Give exactly one of key_card_code and key_fob_code.")
        return attrs


class DeviceRegistrationInputSerializer(serializers.Serializer):
    activation_code = StrictCharField(
        max_length=64,
        required=False,
        help_text="XXXX-XXXX-XXXX-XXXX; case, dashes and spaces do not matter. Or, instead, `challenge`.",
    )
    challenge = DeviceChallengeAnswerSerializer(
        required=False,
        help_text="Instead of an activation code (docs/contract §9): the answer to a challenge; the proof then carries challenge_id.",
    )
    public_key = PublicJwkField(help_text="The new device's public JWK; no private member d.")
    name = StrictCharField(max_length=100)
    platform = serializers.ChoiceField(
        choices=Device.Platform.choices,
        # DRF's default message quotes the input back, a megabyte of it if that is what was sent.
        error_messages={"invalid_choice": f"One of: {', '.join(Device.Platform.values)}."},
    )
    push = PushField(required=False, allow_null=True)
    proof = StrictCharField(
        max_length=16384,
        trim_whitespace=False,
        help_text='Compact JWS by the new key: header {"alg": "ES256"|"EdDSA", "typ": "device-registration+jwt"}, '
        'payload {"activation_code": "<same code>", "iat": <now>} (or {"challenge_id": "<same id>", "iat": <now>}).',
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("activation_code" in attrs) == ("challenge" in attrs):
            raise serializers.ValidationError({"activation_code": ["Give exactly one of activation_code and challenge."]})
        return attrs


class DeviceUpdateInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100, required=False)
    push = PushField(required=False)


class DeviceRegisteredSerializer(serializers.Serializer):
    device_id = serializers.UUIDField(source="id")
    user_id = serializers.CharField(source="citizen.user_id")
    status = serializers.ChoiceField(choices=Device.Status.choices)
    created_at = serializers.DateTimeField()


class DeviceSerializer(serializers.Serializer):
    device_id = serializers.UUIDField(source="id")
    user_id = serializers.CharField(source="citizen.user_id")
    name = serializers.CharField()
    platform = serializers.ChoiceField(choices=Device.Platform.choices)
    status = serializers.ChoiceField(choices=Device.Status.choices)
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)


class DeviceChallengeInputSerializer(serializers.Serializer):
    user_id = StrictCharField(max_length=64, help_text="The citizen's 10-digit user ID.")


class KeyCardAskSerializer(serializers.Serializer):
    serial_hint = serializers.CharField(help_text="The last 3 digits of the key card's serial.")
    key = serializers.CharField(help_text='The key number whose code to type, e.g. "0042".')


class DeviceChallengeSerializer(serializers.Serializer):
    challenge_id = serializers.UUIDField(source="id")
    key_card = serializers.SerializerMethodField()
    key_fob = serializers.BooleanField(help_text="Whether a key fob code may answer instead.")
    expires_at = serializers.DateTimeField()

    @extend_schema_field(KeyCardAskSerializer(allow_null=True))
    def get_key_card(self, challenge: Any) -> dict[str, str] | None:
        if not challenge.key_card_key:
            return None
        return {"serial_hint": challenge.key_card_serial_hint, "key": challenge.key_card_key}


class PasswordInputSerializer(serializers.Serializer):
    password = StrictCharField(  # no max_length: the password rules answer weak_password, too_long (the body is at most 64 KiB)
        trim_whitespace=False,
        allow_blank=True,
        help_text="The new password: at least 8 characters after NFKC normalisation, at most 256; no composition rules; "
        "not a common or breached password, nor built from the user ID, birth date, name or NemID/MitID (docs/contract §9).",
    )
    current_password = StrictCharField(
        max_length=1024,
        trim_whitespace=False,
        allow_blank=True,
        required=False,
        allow_null=True,
        help_text="Required once the citizen has a password.",
    )


class CitizenDeviceSerializer(serializers.Serializer):
    device_id = serializers.UUIDField(source="id")
    name = serializers.CharField()
    platform = serializers.ChoiceField(choices=Device.Platform.choices)
    status = serializers.ChoiceField(choices=Device.Status.choices)
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    current = serializers.SerializerMethodField(help_text="True for the device that asks.")

    def get_current(self, device: Device) -> bool:
        return str(device.id) == str(self.context.get("current_device_id"))


class CitizenDeviceListSerializer(serializers.Serializer):
    devices = CitizenDeviceSerializer(many=True)


# RFC 9457 problem details, as every error of this API is rendered. Built with inline_serializer
# because a declared field named `errors` would shadow Serializer.errors.
DeviceProblemSerializer = inline_serializer(
    name="DeviceProblem",
    fields={
        "type": serializers.CharField(default="about:blank"),
        "title": serializers.CharField(),
        "status": serializers.IntegerField(),
        "detail": serializers.CharField(),
        "code": serializers.CharField(help_text="Stable machine-readable error code (docs/contract/)."),
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            required=False,
            help_text="Per field, for validation_error.",
        ),
    },
)
