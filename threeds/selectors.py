"""Reads of 3-D Secure authentications."""

from __future__ import annotations

from typing import Any

from threeds.models import ThreeDSAuthentication


def threeds_rreq(authentication: ThreeDSAuthentication) -> dict[str, Any]:
    """The RReq subset of CONTRACT §8 for this authentication (also the `3ds.result` webhook data)."""
    raise NotImplementedError
