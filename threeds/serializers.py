"""Schemas of the 3-D Secure messages, for the OpenAPI document.

Validation of the AReq lives in `threeds.emv.areq_parse` (pure, shared with the demo); these
serializers only describe the wire format to drf-spectacular.
"""

from __future__ import annotations

from rest_framework import serializers


class AReqSerializer(serializers.Serializer):
    messageVersion = serializers.ChoiceField(choices=["2.2.0", "2.3.1"])
    threeDSServerTransID = serializers.UUIDField(help_text="Echoed back exactly as sent; one AReq per id and relying party.")
    acctNumber = serializers.RegexField(r"^[0-9]{13,19}$", help_text="13-19 digits passing the Luhn check.")
    purchaseAmount = serializers.RegexField(r"^[0-9]{1,48}$", help_text="Minor units, greater than zero.")
    purchaseCurrency = serializers.RegexField(r"^[0-9]{3}$", help_text="ISO 4217 numeric code of a currency with a minor unit.")
    purchaseExponent = serializers.RegexField(r"^[0-9]$", help_text="Must equal the currency's exponent.")
    merchantName = serializers.CharField(max_length=40, help_text="Printable; shown to the citizen as the payee.")
    threeDSRequestorDecReqInd = serializers.ChoiceField(choices=["Y"])
    threeDSRequestorDecMaxTime = serializers.RegexField(
        r"^[0-9]{5}$", help_text="Minutes; the approval expires after this time, floored at 30 s and capped at 600 s."
    )


class AResSerializer(serializers.Serializer):
    messageVersion = serializers.CharField()
    threeDSServerTransID = serializers.CharField()
    acsTransID = serializers.UUIDField(help_text="For D: the id of the payment approval created for the card's citizen.")
    transStatus = serializers.ChoiceField(choices=["D", "N", "U"])
    acsDecConInd = serializers.ChoiceField(choices=["Y"], required=False, help_text="Present with D.")
    transStatusReason = serializers.CharField(
        required=False, help_text='N: "08" card unknown. U: "13" no active device, "12" citizen locked.'
    )


class RReqSerializer(serializers.Serializer):
    messageVersion = serializers.CharField()
    threeDSServerTransID = serializers.CharField()
    acsTransID = serializers.UUIDField()
    transStatus = serializers.ChoiceField(
        choices=["Y", "N", "U", "D"],
        help_text="Y approved; N denied or failed (or card unknown); U expired, cancelled, no device or locked; D pending.",
    )
    authenticationValue = serializers.CharField(
        required=False,
        help_text="With Y only: base64 of 20 bytes, HMAC-SHA256 (truncated) under the issuer's 3-D Secure key over the transaction.",
    )
    eci = serializers.CharField(required=False, help_text='With Y only: "05".')
    transStatusReason = serializers.CharField(
        required=False,
        help_text='With N: "01" denied, "09" failed (signature or payload mismatch), "11" denied with a fraud report, '
        '"08" card unknown. With U at creation: "13" no active device, "12" citizen locked.',
    )
    challengeCancel = serializers.CharField(
        required=False, help_text='With U: "03" expired, "07" cancelled by the relying party.'
    )
