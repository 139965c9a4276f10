"""factory_boy factories that make real objects: real keyed hashes, real P-256 device keys."""

from __future__ import annotations

import datetime
import secrets

import factory
from django.utils import timezone

from citizens.models import Citizen
from devices import crypto
from devices.models import Device
from nemid_app_backend.secrets import keyed_hash
from relying_parties.authentication import API_KEY_PURPOSE
from relying_parties.models import RelyingParty
from tests.phone import Phone


def _user_id(n: int) -> str:
    return f"{1000000000 + n:010d}"


class CitizenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Citizen

    user_id = factory.Sequence(lambda n: f"{5000000000 + n:010d}")
    name = factory.Faker("name")
    cpr_hash = factory.Sequence(lambda n: keyed_hash("cpr", f"0101{70 + n % 30:02d}{1000 + n:04d}"))
    cpr_masked = "010170-XXXX"
    birth_date = datetime.date(1970, 1, 1)


class RelyingPartyFactory(factory.django.DjangoModelFactory):
    """`rp.api_key` holds the clear key for the test (it is never stored)."""

    class Meta:
        model = RelyingParty

    client_id = factory.Sequence(lambda n: f"rp-{n}-{secrets.token_hex(4)}")
    name = factory.Sequence(lambda n: f"Webshop {n} ApS")
    api_key_hash = ""
    api_key_prefix = ""
    webhook_secret_encrypted = ""
    allowed_types = factory.LazyFunction(lambda: ["login", "payment"])

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        from nemid_app_backend import secrets as app_secrets

        api_key = "nrp_" + secrets.token_urlsafe(32)
        webhook_secret = "whsec_" + __import__("base64").b64encode(secrets.token_bytes(24)).decode()
        kwargs["api_key_hash"] = keyed_hash(API_KEY_PURPOSE, api_key)
        kwargs["api_key_prefix"] = api_key[:8]
        kwargs["webhook_secret_encrypted"] = app_secrets.encrypt(webhook_secret.encode(), purpose="webhook-secret")
        rp = super()._create(model_class, *args, **kwargs)
        rp.api_key = api_key
        rp.webhook_secret = webhook_secret
        return rp


class DeviceFactory(factory.django.DjangoModelFactory):
    """`device.phone` is a Phone holding the device's private key."""

    class Meta:
        model = Device

    citizen = factory.SubFactory(CitizenFactory)
    name = "Pixel 8"
    platform = Device.Platform.ANDROID
    public_jwk: dict = {}
    alg = "ES256"
    key_thumbprint = ""

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        phone = kwargs.pop("phone", None) or Phone()
        key = crypto.load_public_jwk(phone.public_jwk)
        kwargs["public_jwk"] = key.jwk
        kwargs["alg"] = key.alg
        kwargs["key_thumbprint"] = key.thumbprint
        device = super()._create(model_class, *args, **kwargs)
        phone.device_id = str(device.id)
        device.phone = phone
        return device


def aware(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.UTC)


__all__ = ["CitizenFactory", "DeviceFactory", "RelyingPartyFactory", "aware", "timezone"]
