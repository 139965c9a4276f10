"""Static files served by the application itself (WhiteNoise) with DEBUG off, as README's production
commands run it: after collectstatic, the API docs' and the admin's assets load under both the WSGI
and the ASGI handler, under hashed names, compressed, cached for a year. No CDN."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.core.management import call_command
from django.test import Client, override_settings

PRODUCTION_STATIC = {
    "DEBUG": False,
    "WHITENOISE_USE_FINDERS": False,
    "STORAGES": {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    },
}
YEAR = "max-age=315360000"


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """collectstatic into a fresh STATIC_ROOT, with the production storage; those settings stay on."""
    root = tmp_path_factory.mktemp("static")
    with override_settings(STATIC_ROOT=root, **PRODUCTION_STATIC):
        call_command("collectstatic", interactive=False, verbosity=0, ignore_patterns=["redoc"])  # not used: saves time
        yield root


def _assets(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)=["'](/static/[^"']+)["']""", html)


@pytest.mark.django_db
def test_the_api_docs_assets_are_served_hashed_and_cached_for_a_year(collected):
    client = Client()
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assets = _assets(page.content.decode())
    assert any("swagger-ui" in asset and asset.endswith(".js") for asset in assets), assets
    for asset in assets:
        assert re.search(r"\.[0-9a-f]{12}\.\w+$", asset), f"{asset} is not under a hashed name"
        response = client.get(asset, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, asset
        assert YEAR in response["Cache-Control"] and "immutable" in response["Cache-Control"], asset
        if asset.endswith(".js"):
            assert response["Content-Encoding"] == "gzip", asset  # compressed ahead of time
        response.close()
    assert not re.search(r"""(?:src|href)=["']https?:""", page.content.decode())  # nothing from a CDN


@pytest.mark.django_db
def test_the_admin_login_page_assets_are_served(collected):
    client = Client()
    page = client.get("/admin/login/")
    assert page.status_code == 200
    assets = [asset for asset in _assets(page.content.decode()) if asset.endswith(".css")]
    assert assets
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200 and YEAR in response["Cache-Control"], asset
        response.close()


@pytest.mark.django_db(transaction=True)
async def test_the_asgi_handler_serves_them_too(collected):
    from django.core.asgi import get_asgi_application

    transport = httpx.ASGITransport(app=get_asgi_application())
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        page = await client.get("/api/docs/")
        assert page.status_code == 200
        asset = next(asset for asset in _assets(page.text) if asset.endswith(".js"))
        response = await client.get(asset)
    assert response.status_code == 200 and YEAR in response.headers["cache-control"]
    assert response.headers["content-type"].startswith("text/javascript")
