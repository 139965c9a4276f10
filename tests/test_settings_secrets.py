"""The settings' rules for secrets and the demo, checked by starting the settings in a fresh process:
the embedded defaults make and keep their own key; the production shape brings its own; nothing
runs on a public or short secret; the demo never switches on with debug off unless forced."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRINT_KEY = "from django.conf import settings; print(settings.SECRET_KEY); print(settings.NEMID_DEMO)"
GOOD = "k3y-" + "0123456789abcdefghijklmnopqrstuvwxyz"


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "NEMID_")) and k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")
    }
    clean.update({"DJANGO_SETTINGS_MODULE": "nemid_app_backend.settings", "NEMID_VAR_DIR": str(tmp_path / "var"), **env})
    code = f"import django; django.setup(); {PRINT_KEY}"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60, check=False
    )


def test_embedded_defaults_make_a_private_key_once_and_keep_it(tmp_path):
    first = start(tmp_path)
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "var" / "secret-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = first.stdout.splitlines()[0]
    assert len(key) >= 50 and key_file.read_text().strip() == key
    second = start(tmp_path)
    assert second.stdout.splitlines()[0] == key
    assert start(tmp_path / "elsewhere").stdout.splitlines()[0] != key  # random, not a shared default
    assert "dev-insecure" not in (ROOT / "nemid_app_backend" / "settings.py").read_text()


def test_a_key_file_others_can_read_is_made_private(tmp_path):
    start(tmp_path)
    key_file = tmp_path / "var" / "secret-key"
    key_file.chmod(0o644)
    assert start(tmp_path).returncode == 0
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_the_production_shape_refuses_to_start_without_its_own_key(tmp_path):
    result = start(tmp_path, DATABASE_URL="postgres://nobody@127.0.0.1:1/none")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set when DATABASE_URL is set" in result.stderr
    assert not (tmp_path / "var" / "secret-key").exists()
    for debug in ("1", "0"):  # no flag lets it fall back to a key of its own making
        assert start(tmp_path, DATABASE_URL="postgres://nobody@127.0.0.1:1/none", DJANGO_DEBUG=debug).returncode != 0
    given = start(tmp_path, DATABASE_URL="postgres://nobody@127.0.0.1:1/none", DJANGO_SECRET_KEY=GOOD)
    assert given.returncode == 0, given.stderr
    assert given.stdout.splitlines()[0] == GOOD


@pytest.mark.parametrize("name", ["DJANGO_SECRET_KEY", "NEMID_HMAC_KEY", "NEMID_ENCRYPTION_KEY", "NEMID_ISSUER_3DS_SECRET"])
@pytest.mark.parametrize("value", ["too-short", "a" * 64, "django-insecure-" + "0123456789abcdefghijklmnop"])
def test_a_short_or_guessable_secret_is_refused_at_start(tmp_path, name, value):
    for database_url in ("", "postgres://nobody@127.0.0.1:1/none"):
        env = {name: value, "DATABASE_URL": database_url}
        if name != "DJANGO_SECRET_KEY":
            env["DJANGO_SECRET_KEY"] = GOOD
        result = start(tmp_path, **env)
        assert result.returncode != 0 and f"{name} must be at least 32 characters" in result.stderr


def test_the_demo_is_on_with_debug_and_refused_with_debug_off_unless_forced(tmp_path):
    assert start(tmp_path, DJANGO_DEBUG="1").stdout.splitlines()[1] == "True"
    assert start(tmp_path).stdout.splitlines()[1] == "False"
    refused = start(tmp_path, NEMID_DEMO="1")
    assert refused.returncode != 0 and "NEMID_DEMO_FORCE=1" in refused.stderr
    assert start(tmp_path, NEMID_DEMO="1", NEMID_TESTING="1").returncode != 0  # no other flag opens it
    forced = start(tmp_path, NEMID_DEMO="1", NEMID_DEMO_FORCE="1")
    assert forced.returncode == 0 and forced.stdout.splitlines()[1] == "True"
