"""The examples of the OpenAPI schema are real requests: with `make run`'s demo data (seed_demo, and
the demo phone activated), each one sent unchanged, as /api/docs/ sends it with the printed API key,
succeeds; and so do the read endpoints with the path parameters the schema suggests."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from citizens.selectors import citizen_find_by_cpr
from demo.services import DEMO_CPR
from relying_parties.authentication import relying_party_keys_forget
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.NEMID_VAR_DIR = str(tmp_path)
    out = io.StringIO()
    call_command("seed_demo", "--json", stdout=out)
    relying_party_keys_forget()
    seeded = json.loads(out.getvalue())
    DeviceFactory(citizen=citizen_find_by_cpr(cpr=DEMO_CPR))  # the phone of the demo page, activated
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {seeded['relying_party']['api_key']}")
    return client


def schema(client: APIClient) -> dict:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def rp_operations(spec: dict) -> list[tuple[str, str, dict]]:
    """The operations a relying party calls with its API key (the ones /api/docs/ can try out)."""
    return [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict)
        and any("RelyingPartyApiKey" in requirement for requirement in operation.get("security", []))
    ]


def test_every_request_example_succeeds_as_it_stands(demo):
    sent = []
    for path, method, operation in rp_operations(schema(demo)):
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            for name, example in media.get("examples", {}).items():
                response = demo.generic(method.upper(), path, json.dumps(example["value"]), content_type=media_type)
                assert 200 <= response.status_code < 300, (path, name, response.status_code, response.content)
                sent.append((path, name))
    assert ("/api/v1/approvals", "Payment") in sent and ("/api/v1/approvals", "Login") in sent
    assert ("/api/v1/3ds/authentications", "CheckoutWithTheTestCard") in sent


def test_path_parameter_examples_name_real_requests(demo):
    for path, method, operation in rp_operations(schema(demo)):
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            for example in media.get("examples", {}).values():
                demo.generic(method.upper(), path, json.dumps(example["value"]), content_type=media_type)
    tried = []
    for path, method, operation in rp_operations(schema(demo)):
        parameters = {p["name"]: p.get("example") for p in operation.get("parameters", []) if p["in"] == "path"}
        if method != "get" or not parameters:
            continue
        assert all(parameters.values()), (path, parameters)
        response = demo.get(path.format(**parameters))
        assert response.status_code == 200, (path, response.content)
        tried.append(path)
    assert {"/api/v1/approvals/{approval_id}", "/api/v1/3ds/authentications/{acs_trans_id}"} <= set(tried)


def test_without_the_demo_the_examples_stay_generic(client, settings):
    settings.NEMID_DEMO = False
    spec = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    examples = spec["paths"]["/api/v1/approvals"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert examples["Payment"]["value"]["login_hint"] == "1234567890"
