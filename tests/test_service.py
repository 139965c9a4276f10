"""docs/contract §0: health, readiness, JWKS, schema and docs, problem+json for unknown paths."""

import pytest


@pytest.mark.django_db
def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


@pytest.mark.django_db
def test_jwks_publishes_an_es256_key(client):
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    assert keys and keys[0]["kty"] == "EC" and keys[0]["crv"] == "P-256" and keys[0]["alg"] == "ES256"
    assert keys[0]["kid"]
    assert "d" not in keys[0]


@pytest.mark.django_db
def test_unknown_path_is_problem_json(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_openapi_schema_describes_the_device_endpoints(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    register = paths["/api/v1/devices"]["post"]
    assert set(register["responses"]) >= {"201", "400", "409", "429"}
    assert register["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/DeviceRegistrationInputRequest")
    assert set(paths["/api/v1/device"]) >= {"get", "patch", "delete"}
    assert "DeviceToken" in schema["components"]["securitySchemes"]
    device = schema["components"]["schemas"]["Device"]["properties"]
    assert set(device) == {"device_id", "user_id", "name", "platform", "status", "created_at", "last_used_at"}


@pytest.mark.django_db
def test_docs_are_served_without_a_cdn(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html.lower()
    for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs", "googleapis"):
        assert cdn not in html
    # the assets it names are local static files that exist
    import re

    from django.contrib.staticfiles import finders

    assets = re.findall(r'"(/static/drf_spectacular_sidecar/[^"]+)"', html)
    assert assets
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/")) is not None, asset


@pytest.mark.django_db
@pytest.mark.parametrize("raw", [b"[" * 60000, b'{"public_key": ' + b"[" * 30000 + b"]" * 30000 + b"}"])
def test_deeply_nested_json_is_a_validation_error(client, raw):
    response = client.post("/api/v1/devices", raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.django_db
def test_readyz_names_what_is_unreachable(client, settings):
    dead = f"redis://127.0.0.1:{_free_port()}/0"
    settings.REDIS_URL = dead
    settings.CELERY_BROKER_URL = dead
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "not_ready"
    assert body["checks"]["database"] == "ok"
    assert body["failed"] == ["celery_broker", "redis"]


@pytest.mark.django_db
def test_readyz_checks_a_separate_broker(client, settings):
    settings.REDIS_URL = ""
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_free_port()}/0"
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["failed"] == ["celery_broker"]


@pytest.mark.redis
@pytest.mark.django_db
def test_readyz_with_real_redis(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["redis"] == "ok"


@pytest.mark.django_db
def test_problem_json_for_wrong_method_and_media_type(client):
    response = client.put("/api/v1/devices", "{}", content_type="application/json")
    assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"
    response = client.post("/api/v1/devices", "a=b", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type"


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_a_django_views_405_becomes_a_problem_and_keeps_its_allow(method):
    """Discovery is a class-based view of the OpenID toolkit: its own 405 (empty, text/html) becomes
    the problem object, with the Allow header it named."""
    from django.test import Client

    response = getattr(Client(), method)("/.well-known/openid-configuration", "{}", content_type="application/json")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "method_not_allowed"
    assert "GET" in response["Allow"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/.well-known/jwks.json"])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_service_endpoints_answer_other_methods_with_a_problem(path, method):
    from django.test import Client

    # CSRF enforced as in production: a POST used to get Django's 403 HTML page.
    response = getattr(Client(enforce_csrf_checks=True), method)(path, "{}", content_type="application/json")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"
    assert response["Allow"] == "GET, HEAD"
    assert response.json()["code"] == "method_not_allowed"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/.well-known/jwks.json"])
def test_service_endpoints_answer_head(client, path):
    assert client.head(path).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw", [b'{"platform": "\\ud800"}', b'{"name": "a\\udfffb"}', b'{"\\ud800": 1}', b'{"push": ["\\udc00"]}']
)
def test_lone_surrogates_in_json_are_a_validation_error(client, raw):
    response = client.post("/api/v1/devices", raw, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "validation_error" and "body" in body["errors"]


@pytest.mark.django_db
def test_too_many_query_parameters_are_a_validation_error(client):
    response = client.get("/api/v1/device?" + "a=1&" * 2000)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "validation_error"
    assert "query" in response.json()["errors"]


@pytest.mark.django_db
def test_a_body_over_the_upload_limit_is_a_validation_error(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post("/api/v1/devices", b'{"name": "' + b"x" * 2000 + b'"}', content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "validation_error"
    assert "body" in response.json()["errors"]


@pytest.mark.parametrize("exc_path", ["django.core.exceptions.PermissionDenied", "rest_framework.exceptions.PermissionDenied"])
def test_permission_denied_is_a_403_forbidden_problem(exc_path):
    import importlib

    from nemid_app_backend.exception_handlers import problem_exception_handler

    module, name = exc_path.rsplit(".", 1)
    response = problem_exception_handler(getattr(importlib.import_module(module), name)(), {})
    assert response.status_code == 403
    assert response.data["code"] == "forbidden" and response.data["status"] == 403


@pytest.mark.django_db
def test_openapi_schema_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/schema/?format=bogus", 404),
        ("get", "/api/schema/?" + "a=1&" * 2000, 400),
        ("post", "/api/schema/", 405),
        ("post", "/api/docs/", 405),
    ],
)
def test_problems_of_the_schema_and_docs_views_are_json(client, method, path, status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == status


@pytest.mark.django_db
def test_debug_pages_never_replace_problem_json(client, settings):
    """With DEBUG on (as under `make run`) unknown API paths are still problem+json, not HTML."""
    settings.DEBUG = True
    for path in ("/api/v1/nothing-here", "/nothing", "/ws/v1/device"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/problem+json", path
        assert response.json()["code"] == "not_found"
    # The admin keeps its own HTML pages.
    assert "json" not in client.get("/admin/nothing-here/")["Content-Type"]


@pytest.mark.django_db
def test_a_signing_key_from_settings_signs_and_is_published_first(client, settings):
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from signing.services import sign_jwt

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    settings.NEMID_SIGNING_KEY_PEM = pem
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    token = sign_jwt({"sub": "x"})
    assert jwt.get_unverified_header(token)["kid"] == keys[0]["kid"]
    public = jwt.PyJWK(keys[0]).key
    assert jwt.decode(token, public, algorithms=["ES256"]) == {"sub": "x"}


@pytest.mark.django_db
def test_an_api_that_produces_only_json_answers_406_to_other_accepts(client):
    response = client.get("/api/v1/device", HTTP_ACCEPT="application/xml")
    assert response.status_code == 406
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_acceptable"


def test_framework_authentication_and_throttling_failures_keep_their_contract_codes():
    """DRF's own NotAuthenticated (a view whose permission needs a caller) and Throttled (a throttle
    class) are rendered with the hierarchy's codes, Retry-After included."""
    from rest_framework import exceptions as drf_exceptions

    from nemid_app_backend.exception_handlers import problem_exception_handler

    response = problem_exception_handler(drf_exceptions.NotAuthenticated(), {})
    assert response.status_code == 401 and response.data["code"] == "authentication_required"
    response = problem_exception_handler(drf_exceptions.Throttled(wait=7), {})
    assert response.status_code == 429 and response.data["code"] == "rate_limited"
    assert response["Retry-After"] == "7"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/oidc/token", "/oidc/backchannel"])
def test_the_oauth_endpoints_answer_djangos_own_refusals_in_the_rfcs_json(path):
    """A body Django refuses to parse (too many fields) at a token or backchannel endpoint: the
    RFC's {"error": "invalid_request"}, as every other error there, not a problem object."""
    from django.test import Client

    body = "&".join(f"f{i}=x" for i in range(1100))
    response = Client().post(path, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "invalid_request"


@pytest.mark.django_db
def test_an_unhandled_error_at_an_oauth_endpoint_is_the_rfcs_server_error(monkeypatch):
    from django.test import Client

    from oidc.views import endpoints

    def broken(request):  # type: ignore[no-untyped-def]
        raise RuntimeError("a defect")

    monkeypatch.setattr(endpoints, "_authenticated_client", broken)
    response = Client(raise_request_exception=False).post(
        "/oidc/backchannel", "scope=openid", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 500
    assert response.json() == {"error": "server_error", "error_description": "The server failed; try again later."}
