"""The operator admin for key cards and key fobs, and the citizen's page: state shown, never a code, seed or hash."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import AuditEntry
from citizens.services import citizen_password_set
from keycards.models import KeyCard, KeyCardCode
from keycards.services import key_card_challenge, key_card_code_verify, key_card_issue
from keyfobs.models import KeyFob
from keyfobs.services import key_fob_assign, key_fobs_import
from tests.conftest import staff_login
from tests.keyfobs.pskc_helper import make_pskc

pytestmark = pytest.mark.django_db

SEED = b"12345678901234567890"


@pytest.fixture
def operator(client, django_user_model):  # type: ignore[no-untyped-def]
    user = django_user_model.objects.create_superuser("operator", "op@example.com", "pw")
    return staff_login(client, user)


def test_issue_in_the_admin_shows_the_printable_card_once(operator, citizen):
    response = operator.post(reverse("admin:keycards_keycard_add"), {"user_id": citizen.user_id})
    assert response.status_code == 200
    html = response.content.decode()
    card = KeyCard.objects.get(citizen=citizen)
    assert card.serial in html and citizen.user_id in html and "no-store" in response["Cache-Control"]
    pairs = dict(re.findall(r'data-key="(\d{4})">(\d{6})<', html))
    assert len(pairs) == 148
    challenge = key_card_challenge(citizen=citizen)
    assert challenge is not None
    key_card_code_verify(citizen=citizen, key=challenge.key, code=pairs[challenge.key])  # the printed codes work
    assert AuditEntry.objects.get(action="key_card.issued").actor == "admin:operator"
    change = operator.get(reverse("admin:keycards_keycard_change", args=[card.pk])).content.decode()
    assert not any(f">{code}<" in change for code in pairs.values())
    assert not any(row.code_hash in change for row in KeyCardCode.objects.filter(card=card)[:5])


def test_issue_for_an_unknown_user_id_shows_the_error(operator):
    response = operator.post(reverse("admin:keycards_keycard_add"), {"user_id": "0000000000"})
    assert response.status_code == 200 and "unknown_user" in response.content.decode()
    assert not KeyCard.objects.exists()


def test_revoke_action(operator, citizen):
    issued = key_card_issue(citizen=citizen, actor="t")
    response = operator.post(
        reverse("admin:keycards_keycard_changelist"), {"action": "revoke_cards", "_selected_action": [str(issued.card.pk)]}
    )
    assert response.status_code == 302
    issued.card.refresh_from_db()
    assert issued.card.status == "revoked"
    assert AuditEntry.objects.get(action="key_card.revoked").actor == "admin:operator"


def test_import_and_assign_fobs_in_the_admin(operator, citizen):
    upload = SimpleUploadedFile("tokens.pskc", make_pskc([("ADM1", SEED)], password="pw"), content_type="application/xml")
    response = operator.post(reverse("admin:keyfobs_keyfob_add"), {"file": upload, "password": "pw"})
    assert response.status_code == 302, response.content.decode()[:2000]
    fob = KeyFob.objects.get(serial="ADM1")
    response = operator.post(reverse("admin:keyfobs_keyfob_assign"), {"serial": "ADM1", "user_id": citizen.user_id})
    assert response.status_code == 302
    fob.refresh_from_db()
    assert fob.citizen == citizen and fob.status == "assigned"
    page = operator.get(reverse("admin:keyfobs_keyfob_change", args=[fob.pk])).content.decode()
    assert fob.seed_encrypted not in page
    bad = operator.post(reverse("admin:keyfobs_keyfob_assign"), {"serial": "NOPE", "user_id": citizen.user_id})
    assert bad.status_code == 200 and "unknown_key_fob" in bad.content.decode()
    response = operator.post(
        reverse("admin:keyfobs_keyfob_changelist"), {"action": "revoke_fobs", "_selected_action": [str(fob.pk)]}
    )
    assert response.status_code == 302
    fob.refresh_from_db()
    assert fob.status == "revoked"


def test_the_citizens_page_shows_every_authenticator_and_its_state(operator, citizen):
    citizen_password_set(citizen=citizen, password="blue horse eats late")
    issued = key_card_issue(citizen=citizen, actor="t")
    key_fobs_import(source=make_pskc([("PAGE1", SEED)]), actor="t")
    key_fob_assign(citizen=citizen, serial="PAGE1", actor="t")
    page = operator.get(reverse("admin:citizens_citizen_change", args=[citizen.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert issued.card.serial in html and "148" in html  # the card and its codes left
    assert "PAGE1" in html
    citizen.refresh_from_db()
    assert "set 20" in html  # the password: set, with its date
    assert citizen.password_hash not in html and "blue horse" not in html
    assert not any(code in html for code in list(issued.codes.values())[:20])
    for name in ("keycards_keycard", "keyfobs_keyfob"):
        assert operator.get(reverse(f"admin:{name}_changelist")).status_code == 200
    import_page = operator.get(reverse("admin:keyfobs_keyfob_add"))
    assert import_page.status_code == 200 and b'enctype="multipart/form-data"' in import_page.content  # a file upload
    assign_page = operator.get(reverse("admin:keyfobs_keyfob_assign"))
    assert assign_page.status_code == 200 and b"multipart" not in assign_page.content
    assert operator.get(reverse("admin:keycards_keycard_add")).status_code == 200
