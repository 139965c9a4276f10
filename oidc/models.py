"""The OpenID provider's records: clients, django-oauth-toolkit's grants and tokens (swapped in so
that they belong to citizens, not to operator users), consents, hosted-page logins and CIBA requests.

docs/decisions/0004-oidc-on-django-oauth-toolkit.md says why the toolkit's models are swapped.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from jwcrypto import jwk
from oauth2_provider.models import AbstractAccessToken, AbstractApplication, AbstractGrant, AbstractIDToken, AbstractRefreshToken

from approvals.models import ApprovalRequest
from citizens.models import Citizen
from relying_parties.models import RelyingParty


class ClientManager(models.Manager["Client"]):
    def get_queryset(self) -> models.QuerySet[Client]:
        # Every use of a client asks whether its relying party is active (Client.is_usable).
        return super().get_queryset().select_related("relying_party")

    def get_by_natural_key(self, client_id: str) -> Client:
        return self.get(client_id=client_id)


class Client(AbstractApplication):
    """A relying party's OpenID Connect registration: the toolkit's Application, one per relying
    party, with the same client_id. The client secret is hashed by the toolkit (the keyed hasher in
    oidc.hashers); redirect URIs are matched exactly (any port on a loopback address, RFC 8252 §7.3)."""

    class CibaMode(models.TextChoices):
        POLL = "poll"
        PING = "ping"

    ES256_ALGORITHM = "ES256"

    relying_party = models.OneToOneField(RelyingParty, on_delete=models.CASCADE, related_name="oidc_client")
    # Not an operator's application, and named by its relying party.
    user = None  # type: ignore[assignment]
    name = None  # type: ignore[assignment]
    algorithm = models.CharField(max_length=5, default=ES256_ALGORITHM, editable=False)
    ciba_mode = models.CharField(max_length=4, choices=CibaMode.choices, blank=True)
    ciba_notification_endpoint = models.URLField(max_length=2000, blank=True)

    objects = ClientManager()

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
        verbose_name = "OpenID Connect client"

    def __str__(self) -> str:
        return self.client_id

    def natural_key(self) -> tuple[str]:
        return (self.client_id,)

    def is_usable(self, request: Any) -> bool:
        return bool(self.relying_party.is_active)

    def clean(self) -> None:
        return None  # the services validate (oidc.services.validate_redirect_uris); the toolkit knows no ES256

    @property
    def jwk_key(self) -> jwk.JWK:
        """The key the toolkit verifies this client's ID tokens with: the service's current signing
        key (ES256; the JWKS at /.well-known/jwks.json holds it and the previous ones)."""
        from signing.services import current_public_jwk

        return jwk.JWK(**current_public_jwk())

    @property
    def redirect_uri_list(self) -> list[str]:
        return self.redirect_uris.split()

    @property
    def post_logout_redirect_uri_list(self) -> list[str]:
        return self.post_logout_redirect_uris.split()


class Grant(AbstractGrant):
    """An authorization code, with how the citizen authenticated (for the ID token)."""

    user = models.ForeignKey(Citizen, on_delete=models.CASCADE, related_name="oidc_grants")  # type: ignore[assignment]  # a citizen, not an operator
    auth_time = models.DateTimeField()
    acr = models.CharField(max_length=100)
    amr = models.JSONField(default=list)

    class Meta(AbstractGrant.Meta):
        swappable = "OAUTH2_PROVIDER_GRANT_MODEL"


class IDToken(AbstractIDToken):
    user = models.ForeignKey(Citizen, on_delete=models.CASCADE, null=True, blank=True, related_name="oidc_id_tokens")  # type: ignore[assignment]

    class Meta(AbstractIDToken.Meta):
        swappable = "OAUTH2_PROVIDER_ID_TOKEN_MODEL"
        verbose_name = "ID token"


class AccessToken(AbstractAccessToken):
    """Stored as a SHA-256 checksum only (RFC 9700 token storage); it serves the userinfo endpoint."""

    user = models.ForeignKey(Citizen, on_delete=models.CASCADE, null=True, blank=True, related_name="oidc_access_tokens")  # type: ignore[assignment]

    class Meta(AbstractAccessToken.Meta):
        swappable = "OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL"


class RefreshToken(AbstractRefreshToken):
    """Never issued (no refresh_token grant); the toolkit's access token model refers to it."""

    user = models.ForeignKey(Citizen, on_delete=models.CASCADE, related_name="oidc_refresh_tokens")  # type: ignore[assignment]

    class Meta(AbstractRefreshToken.Meta):
        swappable = "OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL"


class Consent(models.Model):
    """What a citizen agreed to share with a client, asked the first time (and when a client asks for more)."""

    citizen = models.ForeignKey(Citizen, on_delete=models.CASCADE, related_name="oidc_consents")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="consents")
    scopes = models.JSONField(default=list)
    granted_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["citizen", "client"], name="one_consent_per_citizen_and_client")]

    def __str__(self) -> str:
        return f"consent of {self.citizen_id} to {self.client_id}"


class LoginTransaction(models.Model):
    """One authorization request going through the hosted pages, from the user ID to the code.

    `request` holds the validated authorization request (client_id, redirect_uri, state, nonce,
    PKCE challenge, scopes, ...); `factors` the authenticators the citizen has passed in this
    login (oidc.assurance). The id in the page URLs is random and the transaction is also bound
    to the browser's session (oidc.views.hosted), so a copied URL is useless elsewhere."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        DONE = "done"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    request = models.JSONField()
    required_acr = models.CharField(max_length=100)
    language = models.CharField(max_length=2)
    citizen = models.ForeignKey(Citizen, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    factors = models.JSONField(default=list)
    auth_time = models.DateTimeField(null=True, blank=True)
    method = models.CharField(max_length=16, blank=True)
    approval = models.ForeignKey(ApprovalRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    key_card_key = models.CharField(max_length=8, blank=True)
    key_card_serial_hint = models.CharField(max_length=8, blank=True)
    force_consent = models.BooleanField(default=False)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"login {self.id}"


class BackchannelRequest(models.Model):
    """A CIBA authentication request: a `login` (or `payment`) approval on the approval engine,
    redeemed once at the token endpoint with grant_type urn:openid:params:grant-type:ciba.

    `auth_req_id` is a handle like an approval id: it is only usable together with the client's
    own credentials. The client notification token (ping mode) is a bearer secret the client gave
    us to present back, so it is kept encrypted."""

    auth_req_id = models.CharField(max_length=64, unique=True)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="backchannel_requests")
    approval = models.OneToOneField(ApprovalRequest, on_delete=models.PROTECT, related_name="backchannel_request")
    mode = models.CharField(max_length=4, choices=Client.CibaMode.choices)
    scope = models.TextField()
    acr = models.CharField(max_length=100)
    authorization_details = models.JSONField(null=True, blank=True)
    notification_token_encrypted = models.TextField(blank=True)
    interval = models.PositiveIntegerField()
    last_polled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    tokens_issued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"CIBA request {self.approval_id}"
