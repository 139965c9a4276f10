"""Writes PSKC files (RFC 6030) as a fob vendor ships them, with python-pskc's own writer.

It also made keyfobs/samples/demo-tokens.pskc, the sample for tests and the demo (its seeds are
public: never use them for a real fob):

    .venv/bin/python -m tests.keyfobs.pskc_helper keyfobs/samples/demo-tokens.pskc
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pskc

TOTP = "urn:ietf:params:xml:ns:keyprov:pskc:totp"
SAMPLE_PATH = Path(__file__).resolve().parents[2] / "keyfobs" / "samples" / "demo-tokens.pskc"
# (serial, seed): test-only seeds, published here on purpose.
SAMPLE_FOBS = [
    ("DEMO00000001", b"nemid demo fob 01 seed!!"),
    ("DEMO00000002", b"nemid demo fob 02 seed!!"),
    ("DEMO00000003", b"nemid demo fob 03 seed!!"),
]


def make_pskc(
    fobs: list[tuple[str, bytes]],
    *,
    password: str | None = None,
    digits: int = 6,
    period: int = 30,
    algorithm: str = TOTP,
    suite: str | None = "HMAC-SHA1",
    drift: int | None = None,
) -> bytes:
    document = pskc.PSKC()
    for serial, seed in fobs:
        fields: dict[str, Any] = {
            "id": serial,
            "serial": serial,
            "manufacturer": "Demo Tokens",
            "secret": seed,
            "algorithm": algorithm,
            "response_length": digits,
            "response_encoding": "DECIMAL",
            "time_interval": period,
        }
        if suite:
            fields["algorithm_suite"] = suite
        if drift is not None:
            fields["time_drift"] = drift
        document.add_key(**fields)  # type: ignore[arg-type]
    if password is not None:
        document.encryption.setup_pbkdf2(password)
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE_PATH
    target.write_bytes(make_pskc(SAMPLE_FOBS))
    print(f"wrote {target}")
