"""The JSON parser of the API: DRF's, plus a 400 (not a 500) for JSON nested too deeply to decode
and for strings that are not Unicode text (lone surrogates such as "\\ud800", valid JSON escapes that
no UTF-8 encoder accepts: echoed in an error message or stored, they would crash the response)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _has_lone_surrogate(data: Any) -> bool:
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


class SafeJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc
        if _has_lone_surrogate(data):
            raise ParseError("JSON parse error - a string holds a lone surrogate (\\ud800-\\udfff): not Unicode text.")
        return data


def json_loads(text: str | bytes) -> Any:
    """json.loads for text a client sent inside a field (a header, a token, a subscription): any
    text that is not JSON, nested too deeply to decode included, raises ValueError."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


def row_id(value: Any) -> int | None:
    """A row's integer id from a URL part or a query value: ASCII digits only ("²".isdigit() is
    true, and int() refuses it), at most 18 of them (a bigint); None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value < 10**18 else None
    if isinstance(value, str) and 0 < len(value) <= 18 and value.isascii() and value.isdigit():
        return int(value)
    return None
