"""Files only this service's user may read (mode 0600) under var/: the generated secret key of the
embedded defaults and the demo's credentials. Pure standard library, so that settings.py can use it."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

PRIVATE_MODE = 0o600


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text`, never readable by anyone else, not even for a moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_private(path: Path) -> str | None:
    """The text of `path`, or None when it does not exist; a file others could read is made 0600 first."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if stat.S_IMODE(mode) & 0o077:
        path.chmod(PRIVATE_MODE)
    return path.read_text(encoding="utf-8")


def read_or_create_secret(path: Path, *, nbytes: int = 48) -> str:
    """A random secret kept in `path`: made once, then read. Two processes starting at once agree
    (the file appears complete or not at all, and the first one to link it wins)."""
    existing = read_private(path)
    if existing and existing.strip():
        return existing.strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            return (read_private(path) or "").strip()
    finally:
        tmp.unlink(missing_ok=True)
    return value
