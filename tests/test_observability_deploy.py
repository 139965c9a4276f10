"""The alert rules and the dashboard under deploy/ load, and name only metrics the service exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "nemid-app-backend.json"
PROMQL_NAMES = {"up"}


def exported_names() -> set[str]:
    text = Client().get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def metric_names(expr: str) -> set[str]:
    return {name for name in re.findall(r"\b(nemid_[a-z_]+)", expr)}


def base(name: str) -> str:
    return re.sub(r"_(bucket|count|sum|total)$", "", name)


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian's prometheus package) is not installed")
def test_the_rules_load_in_promtool():
    result = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_says_what_to_do():
    rules = alert_rules()
    assert len(rules) >= 8
    for rule in rules:
        assert rule["alert"].startswith("Nemid")
        assert rule["labels"]["severity"] in {"page", "ticket"}
        assert len(rule["annotations"]["action"]) > 40, rule["alert"]


@pytest.mark.django_db
def test_rules_and_dashboard_name_only_exported_metrics():
    exported = {base(name) for name in exported_names()}
    expressions = [rule["expr"] for rule in alert_rules()]
    dashboard = json.loads(DASHBOARD.read_text())
    expressions += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = set().union(*(metric_names(expr) for expr in expressions))
    assert used, "no metric names found"
    missing = sorted(name for name in used if base(name) not in exported)
    assert not missing, f"not exported: {missing}"
