"""devices.crypto: a loaded key is remembered by its members, and that changes no verdict."""

from __future__ import annotations

import pytest

from devices import crypto
from tests.phone import Phone


def test_the_same_jwk_loads_once_and_a_changed_one_is_checked_again():
    jwk = Phone().public_jwk
    first = crypto.load_public_jwk(jwk)
    assert crypto.load_public_jwk(dict(jwk)) is first
    with pytest.raises(crypto.KeyInvalid, match="private member"):
        crypto.load_public_jwk({**jwk, "d": "AAAA"})
    with pytest.raises(crypto.KeyInvalid, match="curve"):
        crypto.load_public_jwk({**jwk, "crv": "P-384"})
    with pytest.raises(crypto.KeyInvalid):
        crypto.load_public_jwk({**jwk, "x": jwk["y"]})  # a point not on the curve
    with pytest.raises(crypto.KeyInvalid):
        crypto.load_public_jwk({**jwk, "x": ["not", "a", "string"]})  # unhashable members are checked uncached


def test_a_signature_made_with_another_key_fails_against_a_remembered_key():
    phone, other = Phone(), Phone()
    key = crypto.load_public_jwk(phone.public_jwk)
    token = crypto.sign_jws({"a": 1}, other.private_key, headers={"typ": "x+jwt"})
    with pytest.raises(crypto.JwsInvalid):
        crypto.verify_jws(token, key, typ="x+jwt")
    assert crypto.verify_jws(crypto.sign_jws({"a": 1}, phone.private_key, headers={"typ": "x+jwt"}), key, typ="x+jwt")[1] == {
        "a": 1
    }
