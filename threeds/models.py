"""Cards and 3-D Secure decoupled authentications (docs/contract §8)."""

import uuid

from django.db import models

from approvals.models import ApprovalRequest
from citizens.models import Citizen
from relying_parties.models import RelyingParty


class Card(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    citizen = models.ForeignKey(Citizen, on_delete=models.CASCADE, related_name="cards")
    pan_hash = models.CharField(max_length=64, unique=True, editable=False)
    last4 = models.CharField(max_length=4)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"**** **** **** {self.last4}"


class ThreeDSAuthentication(models.Model):
    acs_trans_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    relying_party = models.ForeignKey(RelyingParty, on_delete=models.PROTECT, related_name="threeds_authentications")
    three_ds_server_trans_id = models.CharField(max_length=36)
    message_version = models.CharField(max_length=8)
    card = models.ForeignKey(Card, null=True, blank=True, on_delete=models.SET_NULL)
    # keyed_hash("pan", acctNumber): binds the authentication value to the card even if the card row goes.
    acct_number_hash = models.CharField(max_length=64, blank=True, editable=False)
    approval = models.OneToOneField(ApprovalRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="threeds")
    purchase_amount_minor = models.CharField(max_length=48)
    purchase_currency_numeric = models.CharField(max_length=3)
    purchase_exponent = models.CharField(max_length=1)
    merchant_name = models.CharField(max_length=70)
    initial_trans_status = models.CharField(max_length=1, help_text="D, N or U as answered in the ARes.")
    trans_status_reason = models.CharField(max_length=2, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # No default ordering: the hot path's plain queries must not sort; listings say their order.
        constraints = [
            # A repeated AReq (same 3DS Server transaction) never creates a second approval.
            models.UniqueConstraint(fields=["relying_party", "three_ds_server_trans_id"], name="unique_3ds_server_trans_per_rp"),
        ]

    def __str__(self) -> str:
        return f"3DS {self.acs_trans_id} ({self.initial_trans_status})"
