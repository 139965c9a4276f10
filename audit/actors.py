"""Who an audit entry's actor is, in words: "device:<uuid>" becomes the device's name and its
citizen's user ID, "rp:<client_id>" the relying party's name. The audit app sits below the apps
that own those rows, so each of them registers a namer for its prefix in its AppConfig.ready()."""

from __future__ import annotations

from collections.abc import Callable

ActorNamer = Callable[[str], "str | None"]

_namers: dict[str, ActorNamer] = {}


def register_actor_namer(prefix: str, namer: ActorNamer) -> None:
    """`namer(rest)` gets what follows "<prefix>:" and returns a name, or None when unknown."""
    _namers[prefix] = namer


def _builtin(prefix: str, rest: str) -> str | None:
    if prefix == "admin":
        return f"Operator {rest}"
    if prefix == "cli":
        user, _, command = rest.partition(":")
        return f"Command {command} run by {user}" if command else f"Command run by {user}"
    if prefix == "system":
        return "The service"
    if prefix == "operator":
        return "An operator"
    if prefix == "demo":
        return "The demo pages"
    return None


def actor_display(actor: str) -> str:
    """A person-readable name followed by the recorded actor, or the recorded actor alone."""
    prefix, separator, rest = actor.partition(":")
    if not separator:
        return actor
    namer = _namers.get(prefix)
    try:
        name = namer(rest) if namer is not None else _builtin(prefix, rest)
    except Exception:  # a name is a courtesy: a failed look-up shows the recorded actor
        name = None
    return f"{name} ({actor})" if name else actor
