"""NSIS assurance levels: which authenticators give which level, and what a login still needs.

Pure rules, no database (docs/oidc.md "Assurance levels" is the same table in words):

| authenticators passed                       | factors                        | level       |
|---------------------------------------------|--------------------------------|-------------|
| code app, key card or key fob, alone        | possession                     | Low         |
| password + key card or key fob              | knowledge + possession         | Substantial |
| password + code app                         | knowledge + possession of a    | High        |
|                                             | device-bound key that signs    |             |
|                                             | what it showed                 |             |

A key card holds printed codes and a key fob a seed the server also knows; the code app holds a
private key that never leaves the phone and signs exactly what it showed (dynamic linking), with
the two-digit number binding the phone to the browser. Only that, with the password, is High.
`amr` values are RFC 8176's: pwd, otp (key card, key fob), pop (the code app's key), mfa.
"""

from __future__ import annotations

from collections.abc import Iterable

NSIS = "https://data.gov.dk/concept/core/nsis/loa/"
LOW = NSIS + "Low"
SUBSTANTIAL = NSIS + "Substantial"
HIGH = NSIS + "High"
LEVELS = (LOW, SUBSTANTIAL, HIGH)
_RANK = {level: rank for rank, level in enumerate(LEVELS, start=1)}

APP = "app"
KEY_CARD = "key_card"
KEY_FOB = "key_fob"
PASSWORD = "password"
POSSESSION = (APP, KEY_CARD, KEY_FOB)
FACTORS = (*POSSESSION, PASSWORD)
_AMR = {APP: "pop", KEY_CARD: "otp", KEY_FOB: "otp", PASSWORD: "pwd"}


class UnsupportedAcr(ValueError):
    """acr_values named no level this provider knows."""


def rank(level: str) -> int:
    return _RANK.get(level, 0)


def at_least(level: str | None, required: str) -> bool:
    return level is not None and rank(level) >= rank(required)


def level_of(factors: Iterable[str]) -> str | None:
    """The level the passed authenticators give, or None (no possession factor yet)."""
    done = set(factors)
    if not done & set(POSSESSION):
        return None
    if PASSWORD in done:
        return HIGH if APP in done else SUBSTANTIAL
    return LOW


def amr_of(factors: Iterable[str]) -> list[str]:
    done = [factor for factor in FACTORS if factor in set(factors)]
    values = sorted({_AMR[factor] for factor in done})
    if len(done) > 1:
        values.append("mfa")
    return values


def required_level(acr_values: str | None, *, default: str = LOW) -> str:
    """The lowest level the client accepts. acr_values lists acceptable levels (OIDC Core §3.1.2.1);
    values this provider does not know are skipped, and a list of only those is refused."""
    if acr_values is None or not acr_values.strip():
        return default
    known = [value for value in acr_values.split() if value in _RANK]
    if not known:
        raise UnsupportedAcr(acr_values)
    return min(known, key=rank)


def methods_for(required: str) -> tuple[str, ...]:
    """The possession authenticators that can lead to `required`."""
    return (APP,) if required == HIGH else POSSESSION


def next_step(factors: Iterable[str], required: str) -> str | None:
    """What the login still needs: "possession" (an authenticator of methods_for(required)), PASSWORD, or None."""
    done = set(factors)
    if at_least(level_of(done), required):
        return None
    if not done & set(methods_for(required)):
        return "possession"
    return PASSWORD


def name(level: str) -> str:
    return level.removeprefix(NSIS)
