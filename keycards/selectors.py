"""Reads of key cards."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from citizens.models import Citizen
from keycards.models import KeyCard, KeyCardCode


def key_card_in_use(*, citizen: Citizen, lock: bool = False) -> KeyCard | None:
    """The card the server asks for: the active card while it has unused codes, else the pending
    replacement (whose first use makes it the active card). None when the citizen has neither."""
    cards: QuerySet[KeyCard] = KeyCard.objects.filter(
        citizen=citizen, status__in=[KeyCard.Status.ACTIVE, KeyCard.Status.PENDING]
    ).select_related("citizen")
    if lock:
        cards = cards.select_for_update()
    by_status = {card.status: card for card in cards}
    active, pending = by_status.get(KeyCard.Status.ACTIVE), by_status.get(KeyCard.Status.PENDING)
    if active is not None and KeyCardCode.objects.filter(card=active, used_at__isnull=True).exists():
        return active
    if pending is not None:
        return pending
    return None


def citizen_has_active_key_card(*, citizen: Citizen) -> bool:
    """Whether the citizen holds a key card the server can ask a code of."""
    return key_card_in_use(citizen=citizen) is not None


def key_card_codes_left(*, card: KeyCard) -> int:
    return KeyCardCode.objects.filter(card=card, used_at__isnull=True).count()


@dataclass(frozen=True)
class KeyCardState:
    """An operator's view of a card: never a code."""

    card: KeyCard
    codes_left: int


def key_cards_for_citizen(*, citizen: Citizen) -> list[KeyCardState]:
    cards = KeyCard.objects.filter(citizen=citizen).annotate(left=Count("codes", filter=Q(codes__used_at__isnull=True)))
    return [KeyCardState(card=card, codes_left=card.left) for card in cards.order_by("-created_at")]
