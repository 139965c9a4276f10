"""What the audit log needs from the apps above it, registered by them in AppConfig.ready().

Checkpoints are signed with the server's signing keys, which the `signing` app owns; `signing` sits
above `audit`, so it registers a signer here instead of `audit` importing it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class CheckpointSignatureError(Exception):
    """A checkpoint's signature does not verify with the server's keys."""


@dataclass(frozen=True)
class CheckpointSigner:
    # payload (a JSON object) -> compact JWS
    sign: Callable[[dict[str, Any]], str]
    # compact JWS -> its payload; raises CheckpointSignatureError when it does not verify
    verify: Callable[[str], dict[str, Any]]


_signer: CheckpointSigner | None = None


def register_checkpoint_signer(signer: CheckpointSigner) -> None:
    global _signer
    _signer = signer


def checkpoint_signer() -> CheckpointSigner | None:
    return _signer
