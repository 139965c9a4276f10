"""README's commands work as written, from a fresh copy of the repository.

The commands are read from README.md's code blocks (not copied here). In a temporary copy of the
tracked files, with its own var/ and none of this machine's DJANGO_*/NEMID_*/DATABASE_URL settings:
- every `.venv/bin/python manage.py ...` line runs, in README order, after the `migrate` that
  `make run` does first; an operator command must exit 0 and print exactly one JSON object. A
  `<name>` placeholder is replaced by the field `name` of an earlier command's JSON output, as the
  README tells its reader to do;
- lines of blocks that set the environment (`export ...`: the production shape), long-running servers
  and workers, the device client and curl are not run, but must parse: the executable exists in the
  virtualenv, the module or command exists, `make` knows the target.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SETUP_COMMANDS = {"migrate", "collectstatic", "seed_demo"}  # speak text, not JSON
# The production shape's own services, installed with them: PostgreSQL's createdb, and `cp` of the
# nginx file from deploy/ (the line then tests and starts nginx).
PRODUCTION_TOOLS = {"createdb", "cp"}
BLOCK = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
PLACEHOLDER = re.compile(r"<([a-z_]+)>")


def readme_blocks() -> list[list[str]]:
    """The code blocks of README.md, each as its logical lines: backslash continuations and quotes
    that span lines are joined, as the shell would read them."""
    blocks = []
    for body in BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8")):
        lines, pending = [], ""
        for raw in body.splitlines():
            if raw.rstrip().endswith("\\"):
                pending += raw.rstrip()[:-1] + " "
                continue
            pending += raw
            try:
                shlex.split(pending, comments=True)
            except ValueError:  # a quote still open: the command goes on
                pending += "\n"
                continue
            if pending.strip():
                lines.append(pending.strip())
            pending = ""
        assert not pending.strip(), f"unfinished command in README: {pending}"
        blocks.append(lines)
    return blocks


def split(line: str) -> list[str]:
    """The words of a line, without a trailing comment and without leading VAR=value assignments."""
    words = shlex.split(line, comments=True)
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        words.pop(0)
    return words


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files git would give a clone (tracked and new, not ignored), and the shared virtualenv."""
    target = tmp_path_factory.mktemp("clone")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if name == ".venv" or name.startswith(".venv/") or not source.is_file():
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / name)
    assert not (target / "var").exists()
    (target / ".venv").symlink_to(VENV_BIN.parent)  # `make run` would have made it
    return target


def clean_env(clone: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "NEMID_", "PYTEST_")) and key not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")
    }
    env["HOME"] = str(clone)
    return env


def run(clone: Path, line: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", line], cwd=clone, env=env, capture_output=True, text=True, timeout=180, check=False)


def test_readme_starts_with_make_run_and_make_test() -> None:
    assert readme_blocks()[0] == ["make run", "make test"]


def test_readme_commands_work_as_written_on_a_fresh_clone(fresh_clone: Path) -> None:
    env = clean_env(fresh_clone)
    # `make run` migrates before anything else; the README says so and so does the Makefile.
    assert "manage.py migrate" in (fresh_clone / "Makefile").read_text()
    migrated = run(fresh_clone, ".venv/bin/python manage.py migrate --noinput", env)
    assert migrated.returncode == 0, migrated.stderr
    known: dict[str, str] = {}
    ran: list[str] = []
    for block in readme_blocks():
        environment_dependent = any(line.startswith("export ") for line in block)
        for line in block:
            words = split(line)
            if not words:
                continue
            if words[:2] == [".venv/bin/python", "manage.py"] and not environment_dependent:
                command = words[2]
                filled = PLACEHOLDER.sub(lambda match: shlex.quote(known[match.group(1)]), line)
                result = run(fresh_clone, filled, env)
                assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
                ran.append(command)
                if command in SETUP_COMMANDS:
                    continue
                output = json.loads(result.stdout)
                assert isinstance(output, dict), line
                known.update({key: value for key, value in output.items() if isinstance(value, str)})
            else:
                check_parses(fresh_clone, words, env)
    assert {"enroll_citizen", "issue_activation_code", "create_relying_party", "verify_audit_log"} <= set(ran)
    key_file = fresh_clone / "var" / "secret-key"
    assert key_file.exists() and key_file.stat().st_mode & 0o077 == 0


def check_parses(clone: Path, words: list[str], env: dict[str, str]) -> None:
    program = words[0]
    if program == "export":
        return
    if program == "make":
        for target in words[1:]:
            if "=" not in target:
                dry = subprocess.run(["make", "-n", target], cwd=clone, capture_output=True, text=True, check=False)
                assert dry.returncode == 0, f"make {target}: {dry.stderr}"
        return
    if program == "curl":
        assert any(word.startswith(("http://127.0.0.1:8000/", "http://127.0.0.1/")) for word in words)  # make run, nginx
        return
    if program in PRODUCTION_TOOLS:
        for word in words:
            if word.startswith("deploy/"):
                assert (clone / word).is_file(), word
        return
    assert program.startswith(".venv/bin/"), f"README runs {program}, which a fresh machine does not have"
    executable = program.removeprefix(".venv/bin/")
    assert (VENV_BIN / executable).exists(), program
    if executable == "python" and words[1] == "manage.py":
        listed = subprocess.run(
            [sys.executable, "manage.py", "help", words[2]], cwd=clone, env=env, capture_output=True, text=True, check=False
        )
        assert listed.returncode == 0, f"manage.py {words[2]}: {listed.stderr}"
    elif executable == "python" and words[1] == "-m":
        module = words[2]
        assert importlib.util.find_spec(module) is not None, module
        if module == "devices.client":
            from devices.client import build_parser

            build_parser().parse_args(words[3:])
    elif executable in ("uvicorn", "gunicorn", "granian"):
        target = next(word for word in words[1:] if ":" in word and not word.startswith("-"))
        module, _, attribute = target.partition(":")
        assert (clone / (module.replace(".", "/") + ".py")).exists() and attribute, target
    elif executable == "celery":
        assert words[1:3] == ["-A", "nemid_app_backend"], words
