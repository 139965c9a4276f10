"""Set up a demo (used by `make run`): the demo's relying party, a citizen with an activation code,
a password, a key card, a key fob and a payment card, and in DEBUG a superuser. Safe to run again:
it reuses what exists, and the credentials it prints (API key, activation code, password, key card
codes, admin password) stay the same across runs. They are kept in clear only in
var/demo-credentials.json (mode 0600; the database holds their hashes, and the fob's seed encrypted).
`--rotate` replaces them all, and the key fob; a used or expired activation code is replaced by
itself, and so is a key card that is no longer the one the server asks."""

from __future__ import annotations

import datetime
import io
import json
import secrets
import string
from pathlib import Path
from typing import Any

import pskc
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.services import staff_demo_codes
from citizens.models import Citizen
from citizens.selectors import citizen_find_by_cpr
from citizens.services import (
    activation_code_issue,
    activation_code_lock_usable,
    citizen_enroll,
    citizen_password_set,
    password_validate,
)
from demo.app_settings import app_settings
from demo.services import (
    DEMO_CITIZEN_NAME,
    DEMO_CPR,
    DEMO_PAN,
    DEMO_RP_TYPES,
    demo_relying_party_create,
    demo_relying_party_find,
)
from keycards.models import KeyCard
from keycards.selectors import key_card_in_use
from keycards.services import key_card_issue, key_card_revoke, key_numbers
from keyfobs.models import KeyFob
from keyfobs.selectors import key_fob_of_citizen
from keyfobs.services import TOTP_ALGORITHM, key_fob_assign, key_fobs_import
from nemid_app_backend.exceptions import ApplicationError, WeakPasswordError
from nemid_app_backend.management_json import command_actor
from nemid_app_backend.private_files import read_private, write_private
from nemid_app_backend.timefmt import rfc3339
from relying_parties.authentication import relying_party_for_key
from relying_parties.models import RelyingParty
from relying_parties.services import relying_party_rotate_key, relying_party_update, relying_party_webhook_secret
from threeds.models import Card
from threeds.services import card_register, pan_hash


class Command(BaseCommand):
    help = (
        "Create or reuse the demo relying party and citizen; print the API key, user ID, activation code, password, "
        "key card, key fob and where to go."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="Replace the kept API key, activation code, password, key card, key fob and admin password with new ones.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not (settings.DEBUG or settings.NEMID_DEMO):
            raise CommandError(
                "seed_demo makes a well-known demo citizen and keys: run it only with DJANGO_DEBUG=1 or NEMID_DEMO=1."
            )
        actor = command_actor("seed_demo")
        try:
            result = self._seed(actor=actor, rotate=options["rotate"])
        except ApplicationError as error:
            raise CommandError(f"{error.code}: {error.detail}") from error
        host = options["host"]
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 address in a URL
        base = f"http://{host}:{options['port']}"
        result["urls"] = {"admin": f"{base}/admin/", "api_docs": f"{base}/api/docs/", "demo": f"{base}/demo/"}
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        lines = [
            "",
            "nemid-app-backend demo",
            f"  Relying party      {result['relying_party']['name']} (client_id {result['relying_party']['client_id']})",
            f"  API key            {result['relying_party']['api_key']}",
            f"  Webhook secret     {result['relying_party']['webhook_secret']}",
            f"  Citizen user ID    {result['citizen']['user_id']} ({result['citizen']['name']})",
            f"  Activation code    {result['citizen']['activation_code']} (expires {result['citizen']['activation_expires_at']})",
            f"  Password           {result['citizen']['password']}",
            f"  Key card           serial {result['citizen']['key_card']['serial']}, key number and code:",
            *_key_card_lines(result["citizen"]["key_card"]["codes"]),
            f"  Key fob            serial {result['citizen']['key_fob']['serial']}; its current code:",
            f"                     {result['citizen']['key_fob']['code_command']}",
            f"  Card               {result['citizen']['card']}",
        ]
        if result.get("admin"):
            lines.append(f"  Admin login        {result['admin']['username']} / {result['admin']['password']}")
            lines.append(f"  Admin one-time codes  {' '.join(result['admin']['one_time_codes'])} (each works once)")
        lines += [
            "",
            f"  Admin              {result['urls']['admin']}",
            f"  API docs           {result['urls']['api_docs']}",
            f"  Demo               {result['urls']['demo']}",
            "",
            f"  These stay the same on every run (kept in {result['credentials_file']}, mode 0600);",
            "  `.venv/bin/python manage.py seed_demo --rotate` replaces them.",
            "",
        ]
        self.stdout.write("\n".join(lines))

    @transaction.atomic
    def _seed(self, *, actor: str, rotate: bool) -> dict[str, Any]:
        path = app_settings.CREDENTIALS_FILE
        previous = _read_kept(path)
        kept = {} if rotate else previous
        rp = demo_relying_party_find()
        if rp is None:
            rp, api_key = demo_relying_party_create(actor=actor)
        else:
            rp = relying_party_update(relying_party=rp, actor=actor, allowed_types=DEMO_RP_TYPES, is_active=True)
            api_key = kept.get("api_key", "")
        if not _is_key_of(api_key, rp):
            rp, api_key = relying_party_rotate_key(relying_party=rp, actor=actor)
        citizen = citizen_find_by_cpr(cpr=DEMO_CPR)
        if citizen is None:
            citizen, code, expires_at = citizen_enroll(cpr=DEMO_CPR, name=DEMO_CITIZEN_NAME, actor=actor)
        else:
            code = kept.get("activation_code", "")
            kept_expiry = _usable_code_expiry(code, citizen)
            if kept_expiry is None:
                code, row = activation_code_issue(citizen=citizen, actor=actor)
                kept_expiry = row.expires_at
            expires_at = kept_expiry
        password = _citizen_password(citizen, kept=_text(kept, "password"), previous=_text(previous, "password"), actor=actor)
        key_card = _key_card(citizen, kept=kept.get("key_card"), actor=actor)
        fob = _key_fob(citizen, rotate=rotate, actor=actor)
        if not Card.objects.filter(pan_hash=pan_hash(DEMO_PAN)).exists():
            card_register(citizen=citizen, pan=DEMO_PAN, actor=actor)
        result: dict[str, Any] = {
            "relying_party": {
                "name": rp.name,
                "client_id": rp.client_id,
                "api_key": api_key,
                "webhook_secret": relying_party_webhook_secret(rp),
            },
            "citizen": {
                "user_id": citizen.user_id,
                "name": citizen.name,
                "activation_code": code,
                "activation_expires_at": rfc3339(expires_at, whole_seconds=True),
                "password": password or "(changed on a phone; seed_demo leaves it alone)",
                "key_card": key_card,
                "key_fob": {"serial": fob.serial, "code_command": FOB_CODE_COMMAND},
                "card": f"{DEMO_PAN} (test card registered to the demo citizen)",
            },
            "credentials_file": str(path),
        }
        admin_password: str | None = _text(kept, "admin_password")
        if settings.DEBUG:
            admin_password = _admin_with_password(admin_password or "", rotate=rotate)
            admin_user = get_user_model().objects.get(username=ADMIN_USERNAME)
            result["admin"] = {
                "username": ADMIN_USERNAME,
                "password": admin_password or "(changed by an operator; seed_demo leaves it alone)",
                # The admin asks every operator for a one-time code after the password; the demo
                # operator gets single-use codes instead of an authenticator app (topped up each run).
                "one_time_codes": staff_demo_codes(user=admin_user, keep=DEMO_ADMIN_CODES, actor=actor),
            }
        kept_now = {
            "api_key": api_key,
            "activation_code": code,
            "admin_password": admin_password or "",
            "password": password or "",
            "key_card": key_card,
        }
        write_private(path, json.dumps(kept_now) + "\n")
        return result


ADMIN_USERNAME = "admin"
DEMO_ADMIN_CODES = 6


FOB_CODE_COMMAND = "DJANGO_DEBUG=1 .venv/bin/python manage.py demo_fob_code"
PASSWORD_ALPHABET = string.ascii_lowercase + string.digits
KEY_CARD_COLUMNS = 6


def _read_kept(path: Path) -> dict[str, Any]:
    try:
        kept = json.loads(read_private(path) or "{}")
    except ValueError:
        return {}
    return kept if isinstance(kept, dict) else {}


def _text(kept: dict[str, Any], key: str) -> str:
    value = kept.get(key, "")
    return value if isinstance(value, str) else ""


def _key_card_lines(codes: dict[str, str]) -> list[str]:
    """The card as printed: key numbers and codes in columns."""
    pairs = [f"{key} {code}" for key, code in sorted(codes.items())]
    return ["      " + "   ".join(pairs[start : start + KEY_CARD_COLUMNS]) for start in range(0, len(pairs), KEY_CARD_COLUMNS)]


def _new_password(citizen: Citizen) -> str:
    """Three groups of four letters and digits: easy to type, and it passes the password rules."""
    while True:
        password = "-".join("".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(4)) for _ in range(3))
        try:
            password_validate(citizen=citizen, password=password)
        except WeakPasswordError:  # a blocklisted or context word by chance: draw again
            continue
        return password


def _citizen_password(citizen: Citizen, *, kept: str, previous: str, actor: str) -> str | None:
    """The demo citizen's password (a citizen chooses one on a phone; the demo's comes ready).
    The kept one while it is still right; a new one when there is none, or on `--rotate` while the
    previous one is known. A password changed on a phone is never undone (None: not known here)."""
    encoded = Citizen.objects.filter(pk=citizen.pk).values_list("password_hash", flat=True).first() or ""
    if encoded and kept and check_password(kept, encoded):
        return kept
    if encoded and not (previous and check_password(previous, encoded)):
        return None
    password = _new_password(citizen)
    citizen_password_set(citizen=citizen, password=password, current_password=previous if encoded else None, actor=actor)
    return password


def _key_card(citizen: Citizen, *, kept: Any, actor: str) -> dict[str, Any]:
    """The kept card while it is the one the server asks; else a new card, at once the one asked
    (the cards in use are revoked first). Its codes are stored only hashed: the kept copy is the
    one to type from."""
    in_use = key_card_in_use(citizen=citizen)
    if (
        in_use is not None
        and isinstance(kept, dict)
        and kept.get("serial") == in_use.serial
        and isinstance(kept.get("codes"), dict)
        and set(kept["codes"]) == set(key_numbers())
    ):
        return {"serial": in_use.serial, "codes": kept["codes"]}
    for card in KeyCard.objects.filter(citizen=citizen, status__in=[KeyCard.Status.ACTIVE, KeyCard.Status.PENDING]):
        key_card_revoke(card=card, actor=actor, reason="replaced by seed_demo")
    issued = key_card_issue(citizen=citizen, actor=actor)
    return {"serial": issued.card.serial, "codes": issued.codes}


def _key_fob(citizen: Citizen, *, rotate: bool, actor: str) -> KeyFob:
    """The demo citizen's fob; a new one (with a new random seed) when there is none, or on
    `--rotate` (assigning it revokes the old one). Imported from a PSKC document as a vendor's
    fobs are; the seed is then kept only encrypted in the database."""
    fob = key_fob_of_citizen(citizen=citizen)
    if fob is not None and not rotate:
        return fob
    serial = f"DEMOFOB{secrets.token_hex(4).upper()}"
    document = pskc.PSKC()
    document.add_key(  # type: ignore[no-untyped-call]
        id=serial,
        serial=serial,
        manufacturer="nemid-app demo",
        secret=secrets.token_bytes(20),
        algorithm=TOTP_ALGORITHM,
        algorithm_suite="HMAC-SHA1",
        response_length=6,
        response_encoding="DECIMAL",
        time_interval=30,
    )
    source = io.BytesIO()
    document.write(source)  # type: ignore[no-untyped-call]
    key_fobs_import(source=source.getvalue(), actor=actor)
    return key_fob_assign(citizen=citizen, serial=serial, actor=actor)


def _is_key_of(api_key: str, rp: RelyingParty) -> bool:
    if not api_key:
        return False
    try:
        return relying_party_for_key(api_key).pk == rp.pk
    except ApplicationError:
        return False


def _usable_code_expiry(code: str, citizen: Citizen) -> datetime.datetime | None:
    if not code:
        return None
    try:
        row = activation_code_lock_usable(code=code)
    except ApplicationError:
        return None
    return row.expires_at if row.citizen_id == citizen.pk else None


def _admin_with_password(kept_password: str, *, rotate: bool) -> str | None:
    """The superuser of `make run`: made with a random password, kept with the other credentials.
    An operator's own change of that password is never undone (None: not known here)."""
    user_model = get_user_model()
    user = user_model.objects.filter(username=ADMIN_USERNAME).first()
    if user is None:
        password = kept_password or secrets.token_urlsafe(12)
        user_model.objects.create_superuser(ADMIN_USERNAME, "admin@localhost", password)
        return password
    if kept_password and user.check_password(kept_password):
        return kept_password
    # A rotation, or the well-known "admin" of earlier versions: replaced by a random one.
    if rotate or user.check_password(ADMIN_USERNAME):
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.save(update_fields=["password"])
        return password
    return None
