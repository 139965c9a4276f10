"""A public service that logs people in with OpenID Connect, as any relying party would: with a
standard client library (Authlib), not with this project's code. It knows only what a relying party
knows: the provider's discovery URL, its client_id and client secret, and its redirect URI.

Only the registration (the relying party, its client and the demo's copy of the secret) is done here
with the provider's services, server-side, as an operator would with `create_relying_party`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from authlib.integrations.base_client import OAuthError
from authlib.integrations.django_client import OAuth
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from demo.models import DemoRelyingParty
from nemid_app_backend import secrets as app_secrets
from oidc.models import Client
from oidc.services import oidc_client_rotate_secret, oidc_client_update, relying_party_register

NAME = "Borger.dk (demo)"
ACTOR = "demo"
SECRET_PURPOSE = "demo-client-secret"
CALLBACK_PATH = "/demo/public-service/callback"
HOME_PATH = "/demo/public-service/"
# Plain http on a loopback address, any port (RFC 8252 §7.3): the demo's own redirect URIs.
LOOPBACK_REDIRECT_URIS = [f"http://127.0.0.1{CALLBACK_PATH}", f"http://[::1]{CALLBACK_PATH}"]
LOOPBACK_LOGOUT_URIS = [f"http://127.0.0.1{HOME_PATH}", f"http://[::1]{HOME_PATH}"]
LEVELS = {
    "": "Any (Low or more)",
    "https://data.gov.dk/concept/core/nsis/loa/Substantial": "Substantial (adds the password)",
    "https://data.gov.dk/concept/core/nsis/loa/High": "High (the code app and the password)",
}
SESSION_CLAIMS = "demo_public_service_claims"
SESSION_ID_TOKEN = "demo_public_service_id_token"


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str


def _register() -> Credentials:
    try:
        with transaction.atomic():
            registration = relying_party_register(
                name=NAME,
                allowed_types=["login"],
                redirect_uris=LOOPBACK_REDIRECT_URIS,
                post_logout_redirect_uris=LOOPBACK_LOGOUT_URIS,
                actor=ACTOR,
            )
            DemoRelyingParty.objects.create(
                role=DemoRelyingParty.Role.PUBLIC_SERVICE,
                relying_party=registration.relying_party,
                client_secret_encrypted=app_secrets.encrypt(registration.client_secret.encode(), purpose=SECRET_PURPOSE),
            )
    except IntegrityError:  # another request registered it first
        return credentials()
    return Credentials(registration.client.client_id, registration.client_secret)


def credentials() -> Credentials:
    """The demo public service's client_id and secret, registered on first use (or by seed_demo)."""
    marker = DemoRelyingParty.objects.select_related("relying_party").filter(role=DemoRelyingParty.Role.PUBLIC_SERVICE).first()
    if marker is None:
        return _register()
    client = Client.objects.filter(relying_party=marker.relying_party).first()
    if client is None or not marker.client_secret_encrypted:  # an older demo database: a new secret
        from oidc.services import oidc_client_create

        with transaction.atomic():
            if client is None:
                client, secret = oidc_client_create(
                    relying_party=marker.relying_party,
                    redirect_uris=LOOPBACK_REDIRECT_URIS,
                    post_logout_redirect_uris=LOOPBACK_LOGOUT_URIS,
                    actor=ACTOR,
                )
            else:
                client, secret = oidc_client_rotate_secret(client=client, actor=ACTOR)
            marker.client_secret_encrypted = app_secrets.encrypt(secret.encode(), purpose=SECRET_PURPOSE)
            marker.save(update_fields=["client_secret_encrypted"])
        return Credentials(client.client_id, secret)
    secret = app_secrets.decrypt(marker.client_secret_encrypted, purpose=SECRET_PURPOSE).decode()
    return Credentials(client.client_id, secret)


def _allow_redirect_uri(redirect_uri: str, home: str) -> None:
    """A demo served on a public https name registers that name's callback too (loopback ones are
    registered from the start)."""
    if not redirect_uri.startswith("https://"):
        return
    client = Client.objects.get(client_id=credentials().client_id)
    if redirect_uri not in client.redirect_uri_list:
        oidc_client_update(
            client=client,
            actor=ACTOR,
            redirect_uris=[*client.redirect_uri_list, redirect_uri],
            post_logout_redirect_uris=[*client.post_logout_redirect_uri_list, home],
        )


_clients: dict[tuple[str, str, str], Any] = {}
_clients_lock = threading.Lock()


def _oauth(request: HttpRequest) -> Any:
    """The Authlib client for this provider, found by discovery on the same host as the page."""
    found = credentials()
    metadata_url = request.build_absolute_uri("/.well-known/openid-configuration")
    key = (metadata_url, found.client_id, found.client_secret)
    with _clients_lock:
        if key not in _clients:
            registry = OAuth()
            registry.register(
                "nemid",
                client_id=found.client_id,
                client_secret=found.client_secret,
                server_metadata_url=metadata_url,
                client_kwargs={"scope": "openid profile", "code_challenge_method": "S256"},
            )
            _clients.clear()
            _clients[key] = registry.create_client("nemid")
        return _clients[key]


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    host, _, port = request.get_host().partition(":")
    if host == "localhost":  # "localhost" is a name, not a loopback address (RFC 8252 §8.3): use 127.0.0.1
        return HttpResponseRedirect(f"http://127.0.0.1{':' + port if port else ''}{HOME_PATH}")
    claims = request.session.get(SESSION_CLAIMS)
    context = {
        "name": NAME,
        "claims": {key: value if isinstance(value, str) else json.dumps(value) for key, value in claims.items()}
        if claims
        else None,
        "levels": LEVELS,
        "error": request.GET.get("error", ""),
    }
    return render(request, "demo/public_service.html", context)


@require_POST
def login(request: HttpRequest) -> HttpResponse:
    acr = request.POST.get("acr", "")
    extra = {"acr_values": acr} if acr in LEVELS and acr else {}
    redirect_uri = request.build_absolute_uri(CALLBACK_PATH)
    _allow_redirect_uri(redirect_uri, request.build_absolute_uri(HOME_PATH))
    return _oauth(request).authorize_redirect(request, redirect_uri, **extra)  # type: ignore[no-any-return]


@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    try:
        token = _oauth(request).authorize_access_token(request)
    except OAuthError as error:
        return HttpResponseRedirect(f"{reverse('demo:public-service')}?error={error.error}")
    request.session[SESSION_CLAIMS] = dict(token["userinfo"])
    request.session[SESSION_ID_TOKEN] = token["id_token"]
    return HttpResponseRedirect(reverse("demo:public-service"))


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    id_token = request.session.pop(SESSION_ID_TOKEN, None)
    request.session.pop(SESSION_CLAIMS, None)
    return _oauth(request).logout_redirect(  # type: ignore[no-any-return]
        request, post_logout_redirect_uri=request.build_absolute_uri(HOME_PATH), id_token_hint=id_token
    )
