"""docs/contract/ stays true: its error codes, the error hierarchy, the tests and the OpenAPI schema agree.

- Every problem code the documents name (written "409 `approval_not_pending`") is a code of the one
  error hierarchy, with that HTTP status, and every code of the hierarchy is documented.
- Every documented code is provoked by a test: the code appears as a string in an `assert`, in an
  argument of an `assert_*` helper, or in a `pytest.mark.parametrize` table. A mention in a comment or a
  docstring does not count.
- Every endpoint the documents name ("GET /api/v1/device") is in the OpenAPI schema that drf-spectacular
  generates from the views, with that method, and every operation of the schema is documented.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest
from drf_spectacular.generators import SchemaGenerator

from nemid_app_backend import exceptions

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_DIR = ROOT / "docs" / "contract"
TESTS_DIR = ROOT / "tests"

SECTION_FILES = [
    "README.md",
    "00-conventions.md",
    "01-authentication.md",
    "02-citizens.md",
    "03-operator-commands.md",
    "04-devices.md",
    "05-approvals.md",
    "06-device-side.md",
    "07-limits.md",
    "08-3ds.md",
    "09-authenticators.md",
    "10-oidc-ciba.md",
]

# "409 `approval_not_pending`", or in a table row "| 409 | `approval_not_pending` |".
DOC_CODE = re.compile(r"\b([1-5]\d\d)(?: \| | )`([a-z][a-z0-9_]*)`")
DOC_ENDPOINT = re.compile(r"`?\b(GET|POST|PUT|PATCH|DELETE) (/[^\s`?]+)")
METHODS = {"get", "post", "put", "patch", "delete"}


def contract_text() -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(CONTRACT_DIR.glob("*.md"))}


def documented_codes() -> dict[str, set[int]]:
    codes: dict[str, set[int]] = defaultdict(set)
    for text in contract_text().values():
        for status, code in DOC_CODE.findall(text):
            codes[code].add(int(status))
    return dict(codes)


def _subclasses(root: type[exceptions.ApplicationError]) -> list[type[exceptions.ApplicationError]]:
    found: list[type[exceptions.ApplicationError]] = []
    pending = [root]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        found.append(cls)
    return found[1:]


def hierarchy_codes() -> dict[str, set[int]]:
    """The problem codes, each with its statuses: one code may have two (invalid_credentials is 400 for
    a wrong challenge answer, 401 for a wrong current password). The OAuth protocol errors are not
    problem codes: docs/contract §10 writes them error=<code> (oauth_codes)."""
    oauth = set(_subclasses(exceptions.OAuthProtocolError)) | {exceptions.OAuthProtocolError}
    found: dict[str, set[int]] = defaultdict(set)
    for cls in _subclasses(exceptions.ApplicationError):
        if cls not in oauth:
            found[cls.code].add(cls.http_status)
    return dict(found)


DOC_OAUTH_ERROR = re.compile(r"`error=([a-z][a-z0-9_]*)`")


def oauth_codes() -> set[str]:
    import oidc.errors  # noqa: F401 - defines the provider's subclasses

    return {cls.code for cls in _subclasses(exceptions.OAuthProtocolError)}


def documented_oauth_codes() -> set[str]:
    return {code for text in contract_text().values() for code in DOC_OAUTH_ERROR.findall(text)}


def _string_constants(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def asserted_strings(source: str) -> set[str]:
    """Strings a test asserts on: inside `assert`, an `assert_*(...)` call, or a parametrize table."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assert):
            found |= _string_constants(node.test)
        elif isinstance(node, ast.Call) and (_call_name(node).startswith("assert") or _call_name(node) == "parametrize"):
            for argument in [*node.args, *(keyword.value for keyword in node.keywords)]:
                found |= _string_constants(argument)
    return found


def provoked_codes() -> set[str]:
    found: set[str] = set()
    for path in TESTS_DIR.rglob("*.py"):
        if path.resolve() == Path(__file__).resolve():
            continue
        found |= asserted_strings(path.read_text(encoding="utf-8"))
    return found


def test_every_section_file_is_there_and_indexed() -> None:
    present = {path.name for path in CONTRACT_DIR.glob("*.md")}
    assert set(SECTION_FILES) <= present
    index = (CONTRACT_DIR / "README.md").read_text(encoding="utf-8")
    for name in SECTION_FILES[1:]:
        assert f"({name})" in index, f"{name} is not linked from docs/contract/README.md"


def test_the_scanner_sees_assertions_and_not_comments() -> None:
    source = '''
def test_x(client):
    # "in_a_comment" is not asserted
    """"in_a_docstring" is not either"""
    value = "assigned_only"
    assert body["code"] == "in_assert"
    assert_problem(response, 409, "in_helper")

@pytest.mark.parametrize(("a", "b"), [("x", "in_table")])
def test_y(a, b): ...
'''
    found = asserted_strings(source)
    assert {"in_assert", "in_helper", "in_table"} <= found
    assert not {"in_a_comment", "in_a_docstring", "assigned_only"} & found


def test_documented_codes_are_in_the_hierarchy_with_their_status() -> None:
    documented = documented_codes()
    hierarchy = hierarchy_codes()
    assert documented, "no code found: the pattern or the documents changed"
    unknown = sorted(set(documented) - set(hierarchy))
    assert not unknown, f"documented but not in nemid_app_backend/exceptions.py: {unknown}"
    wrong_status = {
        code: (sorted(statuses), sorted(hierarchy[code])) for code, statuses in documented.items() if statuses != hierarchy[code]
    }
    assert not wrong_status, f"documented status differs from the hierarchy's: {wrong_status}"


def test_every_code_of_the_hierarchy_is_documented() -> None:
    undocumented = sorted(set(hierarchy_codes()) - set(documented_codes()))
    assert not undocumented, f"codes missing from docs/contract/ (write them as '<status> `code`'): {undocumented}"


def test_every_code_in_the_conventions_table_is_listed_once() -> None:
    table = [
        code
        for status, code in DOC_CODE.findall((CONTRACT_DIR / "00-conventions.md").read_text(encoding="utf-8"))
        if f"| {status} | `{code}` |" in (CONTRACT_DIR / "00-conventions.md").read_text(encoding="utf-8")
    ]
    assert sorted(set(table)) == sorted(documented_codes()), "the table in 00-conventions.md must list every code"


def test_every_oauth_error_is_documented_and_provoked() -> None:
    """docs/contract §10 names the OAuth errors as `error=<code>`; each one the provider defines is
    there, and a test asserts on it."""
    codes = oauth_codes()
    assert "invalid_request" in codes, "the provider's errors were not found"
    assert not sorted(codes - documented_oauth_codes()), "OAuth errors missing from docs/contract/ (write `error=<code>`)"
    assert not sorted(documented_oauth_codes() - provoked_codes()), "no test asserts on these OAuth errors"


def test_every_documented_code_is_provoked_by_a_test() -> None:
    unprovoked = sorted(set(documented_codes()) - provoked_codes())
    assert not unprovoked, f"no test asserts on these codes: {unprovoked}"


def _normalise(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path.rstrip("/") or "/")


def documented_endpoints() -> set[tuple[str, str]]:
    endpoints = set()
    for text in contract_text().values():
        for method, path in DOC_ENDPOINT.findall(text):
            if path.startswith("/api/v1/"):
                endpoints.add((method.lower(), _normalise(path)))
    return endpoints


@pytest.fixture
def schema(db) -> dict:  # type: ignore[no-untyped-def]  # the demo's example hook reads the database
    return SchemaGenerator().get_schema(request=None, public=True)


def schema_operations(schema: dict) -> set[tuple[str, str]]:
    return {
        (method, _normalise(path))
        for path, item in schema["paths"].items()
        if path.startswith("/api/v1/")
        for method in item
        if method in METHODS
    }


def test_documented_endpoints_are_in_the_generated_schema(schema: dict) -> None:
    missing = sorted(documented_endpoints() - schema_operations(schema))
    assert not missing, f"documented in docs/contract/ but not served: {missing}"


def test_every_operation_of_the_schema_is_documented(schema: dict) -> None:
    undocumented = sorted(schema_operations(schema) - documented_endpoints())
    assert not undocumented, f"served but missing from docs/contract/ (write 'METHOD /api/v1/...'): {undocumented}"


def test_the_served_schema_is_the_generated_one(api, schema: dict, db) -> None:  # type: ignore[no-untyped-def]
    served = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert served.status_code == 200
    assert {path for path in served.json()["paths"]} == set(schema["paths"])
