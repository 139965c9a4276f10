"""The layer contract in pyproject.toml covers every app of the project, so that import-linter
(`make lint`) checks the arrows of a new app as soon as it is installed."""

from __future__ import annotations

import tomllib
from pathlib import Path

from django.apps import apps

ROOT = Path(__file__).resolve().parent.parent


def _contract() -> tuple[list[str], list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    names = [name.strip().strip("()") for layer in layers for name in layer.replace(":", "|").split("|")]
    return config["root_packages"], names


def _project_apps() -> set[str]:
    return {config.name for config in apps.get_app_configs() if (ROOT / config.name).is_dir()}


def test_every_app_of_the_project_is_in_the_layer_contract():
    root_packages, layer_names = _contract()
    project = _project_apps() | {"nemid_app_backend"}
    assert project - set(root_packages) == set(), "add the app to [tool.importlinter] root_packages"
    assert project - set(layer_names) == set(), "give the app its layer in the contract"


def test_every_analysed_package_has_a_layer():
    root_packages, layer_names = _contract()
    assert set(root_packages) - set(layer_names) == set()
