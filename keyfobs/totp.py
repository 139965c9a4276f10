"""RFC 6238 TOTP on pyotp: the code of a time step, and the step of a moment. Pure: no ORM."""

from __future__ import annotations

import base64
import datetime
import hashlib

import pyotp

DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def time_step(moment: datetime.datetime, period: int) -> int:
    return int(moment.timestamp()) // period


def code_at_step(seed: bytes, step: int, *, digits: int = 6, digest: str = "sha1", period: int = 30) -> str:
    totp = pyotp.TOTP(base64.b32encode(seed).decode(), digits=digits, digest=DIGESTS[digest], interval=period)
    return totp.generate_otp(step)


def code_at(seed: bytes, moment: datetime.datetime, *, digits: int = 6, digest: str = "sha1", period: int = 30) -> str:
    return code_at_step(seed, time_step(moment, period), digits=digits, digest=digest, period=period)
