"""Seed a benchmark database through the ORM: one relying party (with an OpenID Connect client in CIBA
poll mode), citizens, one device each.

Run with the project settings and the benchmark's DATABASE_URL (bench.stack does it):
    python -m bench.seed --citizens 10000 --out /tmp/seed.json
Objects are made the way tests/factories.py makes them (keyed hashes, encrypted webhook secret,
real P-256 keys); the private keys are written to `--out` for the load generator, which signs
exactly as a phone does.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import secrets

import django


def seed(citizens: int, out: str, callback_url: str) -> None:
    from cryptography.hazmat.primitives import serialization

    from citizens.models import Citizen
    from devices import crypto
    from devices.models import Device
    from nemid_app_backend import secrets as app_secrets
    from relying_parties.authentication import API_KEY_PURPOSE
    from relying_parties.models import RelyingParty

    api_key = "nrp_" + secrets.token_urlsafe(32)
    webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    rp = RelyingParty.objects.create(
        client_id=f"bench-{secrets.token_hex(4)}",
        name="Bench Webshop ApS",
        api_key_hash=app_secrets.keyed_hash(API_KEY_PURPOSE, api_key),
        api_key_prefix=api_key[:8],
        webhook_secret_encrypted=app_secrets.encrypt(webhook_secret.encode(), purpose="webhook-secret"),
        callback_url=callback_url,
        allowed_types=["login", "payment"],
    )
    start = Citizen.objects.count()
    people = [
        Citizen(
            user_id=f"{7000000000 + start + n:010d}",
            name=f"Bench Citizen {start + n}",
            cpr_hash=app_secrets.keyed_hash("cpr", f"bench-{rp.client_id}-{n}"),
            cpr_masked="010170-XXXX",
            birth_date=datetime.date(1970, 1, 1),
        )
        for n in range(citizens)
    ]
    Citizen.objects.bulk_create(people, batch_size=2000)
    people = list(Citizen.objects.filter(user_id__in=[c.user_id for c in people]).order_by("user_id"))
    keys = [crypto.generate_private_key() for _ in people]
    devices = []
    for citizen, key in zip(people, keys, strict=True):
        loaded = crypto.load_public_jwk(crypto.public_jwk_of(key))
        devices.append(
            Device(
                citizen=citizen,
                name="Bench phone",
                platform=Device.Platform.ANDROID,
                public_jwk=loaded.jwk,
                alg=loaded.alg,
                key_thumbprint=loaded.thumbprint,
            )
        )
    Device.objects.bulk_create(devices, batch_size=2000)
    from oidc.services import oidc_client_create

    _, client_secret = oidc_client_create(relying_party=rp, ciba_mode="poll", actor="bench")
    rows = []
    for citizen, device, key in zip(people, devices, keys, strict=True):
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        rows.append({"user_id": citizen.user_id, "device_id": str(device.id), "key_pem": pem.decode()})
    with open(out, "w") as handle:
        json.dump(
            {
                "client_id": rp.client_id,
                "api_key": api_key,
                "webhook_secret": webhook_secret,
                "client_secret": client_secret,
                "citizens": rows,
            },
            handle,
        )
    os.chmod(out, 0o600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--citizens", type=int, default=100)
    parser.add_argument("--out", required=True)
    parser.add_argument("--callback-url", default="")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nemid_app_backend.settings")
    django.setup()
    seed(args.citizens, args.out, args.callback_url)


if __name__ == "__main__":
    main()
