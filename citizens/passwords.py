"""The password rules (CONTRACT §9; NIST SP 800-63B rev 4 §3.1.1.2). Pure: no ORM.

- A password is NFKC-normalised (so the same text typed on two keyboards is the same password)
  and counted in Unicode code points: at least 8 (the password is always a second factor here,
  beside a key card, key fob or the code app), at most 256 (more than the 64 the guideline asks
  to accept).
- No composition rules (no "one digit and one capital").
- Refused when it is on the blocklist shipped in citizens/data/password-blocklist.txt (common
  and breached passwords), or is built from context words: the user ID, the birth date, "NemID",
  "MitID", the citizen's name. Each refusal says what to do instead.
"""

from __future__ import annotations

import datetime
import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BLOCKLIST_PATH = Path(__file__).resolve().parent / "data" / "password-blocklist.txt"
MIN_LENGTH = 8
MAX_LENGTH = 256
SERVICE_WORDS = ("nemid", "mitid", "nets", "nemlog", "borger", "password", "kodeord", "adgangskode")
_NOT_WORD = re.compile(r"[\W_]+")
_ASCENDING = "abcdefghijklmnopqrstuvwxyz"
_DIGITS = "01234567890"
_KEYBOARD_ROWS = ("qwertyuiopå", "asdfghjklæø", "zxcvbnm", "1234567890")


class PasswordNotUsable(ValueError):
    """A password the rules refuse: `reason` is stable, `message` tells the person what to do."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class PasswordContext:
    """What the citizen's password must not be built from."""

    user_id: str = ""
    name: str = ""
    birth_date: datetime.date | None = None


@functools.cache
def blocklist() -> frozenset[str]:
    lines = BLOCKLIST_PATH.read_text(encoding="utf-8").splitlines()
    return frozenset(_fold(line) for line in lines if line.strip() and not line.startswith("#"))


def _fold(value: str) -> str:
    return unicodedata.normalize("NFKC", value).casefold().strip()


def normalize(password: Any) -> str:
    """The stored form of a typed password: NFKC. Raises PasswordNotUsable for a non-string, control
    characters, or text that cannot be encoded (a lone surrogate in JSON)."""
    if not isinstance(password, str):
        raise PasswordNotUsable("invalid", "The password must be a string.")
    if len(password) > 4 * MAX_LENGTH:  # before normalising: NFKC of a huge string is work for nothing
        raise PasswordNotUsable("too_long", f"Use at most {MAX_LENGTH} characters.")
    try:
        password.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PasswordNotUsable("invalid", "The password contains characters that are not text.") from exc
    normalized = unicodedata.normalize("NFKC", password)
    if any(unicodedata.category(char) == "Cc" for char in normalized):
        raise PasswordNotUsable("invalid", "The password must not contain control characters (tabs, line breaks).")
    return normalized


def _is_run(word: str) -> bool:
    """One character repeated, or a straight run up or down the alphabet, the digits or a keyboard row."""
    if len(set(word)) == 1:
        return True
    for sequence in (_ASCENDING, _DIGITS, *_KEYBOARD_ROWS):
        if word in sequence or word in sequence[::-1]:
            return True
    return False


def _context_words(context: PasswordContext) -> list[str]:
    words = list(SERVICE_WORDS)
    if context.user_id:
        words.append(context.user_id)
    for part in _NOT_WORD.split(_fold(context.name)):
        if len(part) >= 3:
            words.append(part)
    if context.birth_date is not None:
        day = context.birth_date
        words += [
            f"{day:%d%m%Y}",
            f"{day:%d%m%y}",
            f"{day:%Y%m%d}",
            f"{day:%Y}",
        ]
    return sorted(set(words), key=len, reverse=True)


def check(password: Any, context: PasswordContext | None = None) -> str:
    """The normalised password when the rules accept it; else raise PasswordNotUsable."""
    normalized = normalize(password)
    length = len(normalized)
    if length < MIN_LENGTH:
        raise PasswordNotUsable("too_short", f"Use at least {MIN_LENGTH} characters; a few words in a row are easy to remember.")
    if length > MAX_LENGTH:
        raise PasswordNotUsable("too_long", f"Use at most {MAX_LENGTH} characters.")
    folded = normalized.casefold()
    compact = _NOT_WORD.sub("", folded)
    listed = blocklist()
    if folded in listed or compact in listed or _is_run(compact or folded):
        raise PasswordNotUsable("common", "This password is among the most used and guessed ones; choose a phrase of your own.")
    # A listed password with digits or signs added before or after ("sommerfugl2024!").
    core = folded.strip("0123456789!?.,-_ #*+@$%&/")
    if len(core) >= 6 and core != folded and (core in listed or _NOT_WORD.sub("", core) in listed):
        raise PasswordNotUsable(
            "common", "A common password with digits or signs added is still easy to guess; choose a phrase of your own."
        )
    context = context or PasswordContext()
    if context.user_id and context.user_id in compact:
        raise PasswordNotUsable("context", "Do not use your user ID in your password.")
    # Take out every context word; what is left must be a password of its own.
    remainder = compact
    for word in _context_words(context):
        remainder = remainder.replace(word, "")
    if remainder != compact:
        stripped = remainder.strip("0123456789")
        if len(remainder) < MIN_LENGTH or remainder in listed or stripped in listed or _is_run(remainder):
            raise PasswordNotUsable(
                "context",
                "Do not build your password around NemID, MitID, your name, birth date or user ID; choose a phrase of your own.",
            )
    return normalized
