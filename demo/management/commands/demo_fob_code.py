"""The code the demo citizen's key fob shows now, for the demo pages (`seed_demo` assigns the fob):
{"serial", "code", "valid_for", "used"}. Demo only: it refuses unless the demo is enabled."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from demo.services import demo_fob_code_now
from nemid_app_backend.exceptions import ForbiddenError
from nemid_app_backend.management_json import JsonCommand


class Command(JsonCommand):
    help = 'Print the current code of the demo citizen\'s key fob: {"serial", "code", "valid_for", "used"}.'

    def run(self, **options: Any) -> dict[str, Any]:
        if not (settings.DEBUG or settings.NEMID_DEMO):
            raise ForbiddenError(
                "demo_fob_code shows the codes of the demo's well-known key fob: run it only with DJANGO_DEBUG=1 or NEMID_DEMO=1."
            )
        shown = demo_fob_code_now()
        return {"serial": shown.serial, "code": shown.code, "valid_for": shown.valid_for, "used": shown.used}
