"""``manage.py qcompat_rewrite_imports``: change Django Q imports to qcompat's, in place.

Only the module name of an import statement changes; the names it imports, their
order, parentheses, comments and everything else in the file stay as they are:

- ``from django_q.tasks import async_task, result`` -> ``from qcompat.tasks import ...``
- ``from django_q.models import Task`` -> ``from qcompat.models import Task``
- ``from django_q import async_task`` -> ``from qcompat import async_task``
- ``import django_q.tasks as tasks`` -> ``import qcompat.tasks as tasks``

An import that would need the code around it changed (``import django_q.tasks``,
which binds the name ``django_q``) or that names something qcompat does not have
(``from django_q.models import Schedule``) is left alone and reported.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import importlib
import io
import os
import tokenize
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from qcompat.django_q_alias import ALIASES, PACKAGE

#: Folders never worth rewriting.
SKIPPED_FOLDERS = frozenset({"__pycache__", "node_modules", "site-packages"})


@dataclasses.dataclass(frozen=True)
class Problem:
    line: int
    message: str


@dataclasses.dataclass
class Rewrite:
    source: str
    changes: int = 0
    problems: list[Problem] = dataclasses.field(default_factory=list)


def _available(module: str, name: str) -> bool:
    if module == "qcompat":
        qcompat = importlib.import_module("qcompat")
        submodule = ALIASES.get(f"{PACKAGE}.{name}", "")
        return name in qcompat.__all__ or submodule.startswith("qcompat.")
    return hasattr(importlib.import_module(module), name)


def _is_django_q(module: str | None) -> bool:
    return module is not None and (module == PACKAGE or module.startswith(PACKAGE + "."))


class _Tokens:
    """The file's tokens, found by position, to see exactly where a module name is written."""

    def __init__(self, source: str) -> None:
        self.lines = source.split("\n")
        self.tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
        self.index = {token.start: i for i, token in enumerate(self.tokens)}
        starts = [0]
        for line in self.lines[:-1]:
            starts.append(starts[-1] + len(line) + 1)
        self.line_starts = starts

    def at(self, line: int, byte_offset: int) -> int | None:
        """The token at an ``ast`` position; ast counts UTF-8 bytes, tokenize characters."""
        text = self.lines[line - 1].encode()[:byte_offset].decode(errors="replace")
        return self.index.get((line, len(text)))

    def dotted_name(self, i: int) -> tuple[int, int] | None:
        """The source offsets of the dotted name starting at token ``i``."""
        tokens = self.tokens
        if i >= len(tokens) or tokens[i].type != tokenize.NAME:
            return None
        end = i
        while (
            end + 2 < len(tokens)
            and tokens[end + 1].exact_type == tokenize.DOT
            and tokens[end + 2].type == tokenize.NAME
        ):
            end += 2
        return self.offset(tokens[i].start), self.offset(tokens[end].end)

    def offset(self, position: tuple[int, int]) -> int:
        return self.line_starts[position[0] - 1] + position[1]


def rewrite_source(source: str, available: Callable[[str, str], bool] = _available) -> Rewrite:
    """``source`` with its Django Q imports pointed at qcompat, and what could not be."""
    tree = ast.parse(source)
    tokens = _Tokens(source)
    outcome = Rewrite(source)
    edits: list[tuple[int, int, str]] = []

    def edit(line: int, column: int, keyword_offset: int, target: str) -> None:
        i = tokens.at(line, column)
        span = None if i is None else tokens.dotted_name(i + keyword_offset)
        if span is None:
            outcome.problems.append(
                Problem(line, "The import could not be located; change it by hand.")
            )
            return
        edits.append((*span, target))

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and _is_django_q(node.module):
            module = str(node.module)
            target = ALIASES.get(module)
            if target is None:
                outcome.problems.append(
                    Problem(node.lineno, f"{module} has no counterpart in qcompat; left as it is.")
                )
                continue
            missing = [
                alias.name
                for alias in node.names
                if alias.name != "*" and not available(target, alias.name)
            ]
            if missing:
                outcome.problems.append(
                    Problem(
                        node.lineno,
                        f"{', '.join(missing)} from {module} has no counterpart in {target}; "
                        "the import was left as it is.",
                    )
                )
                continue
            # The name follows the keyword "from".
            edit(node.lineno, node.col_offset, 1, target)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if not _is_django_q(alias.name):
                    continue
                target = ALIASES.get(alias.name)
                if target is None or alias.asname is None or alias.name == PACKAGE:
                    outcome.problems.append(
                        Problem(
                            alias.lineno,
                            f"`import {alias.name}` needs the code that uses it changed too; "
                            "change it by hand to import from qcompat.",
                        )
                    )
                    continue
                edit(alias.lineno, alias.col_offset, 0, target)

    rewritten = source
    for start, end, target in sorted(edits, reverse=True):
        rewritten = rewritten[:start] + target + rewritten[end:]
    outcome.source = rewritten
    outcome.changes = len(edits)
    outcome.problems.sort(key=lambda problem: problem.line)
    return outcome


def python_files(paths: list[str]) -> Iterator[Path]:
    for given in paths:
        path = Path(given)
        if path.is_file():
            yield path
            continue
        if not path.is_dir():
            raise CommandError(f"{given} is neither a file nor a folder.")
        for folder, subfolders, files in os.walk(path):
            subfolders[:] = sorted(
                name
                for name in subfolders
                if not name.startswith(".") and name not in SKIPPED_FOLDERS
            )
            for name in sorted(files):
                if name.endswith(".py"):
                    yield Path(folder) / name


class Command(BaseCommand):
    help = (
        "Rewrites `from django_q.tasks import ...`, `from django_q.models import ...` and the "
        "other Django Q imports that qcompat has a counterpart for, in the given files and "
        "folders, changing only the module names. Imports it cannot rewrite are reported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", help="Python files, or folders to search.")
        parser.add_argument(
            "--check",
            action="store_true",
            help="Change nothing; exit with status 1 if any file still imports django_q.",
        )
        parser.add_argument(
            "--diff", action="store_true", help="Change nothing; print the changes as a diff."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        write = not (options["check"] or options["diff"])
        changed = problems = changes = 0
        for path in python_files(options["paths"]):
            data = path.read_bytes()
            encoding, _lines = tokenize.detect_encoding(io.BytesIO(data).readline)
            try:
                source = data.decode(encoding)
                outcome = rewrite_source(source)
            except (SyntaxError, UnicodeDecodeError, tokenize.TokenError) as error:
                self.stderr.write(f"{path}: skipped, it cannot be parsed ({error}).")
                continue
            for problem in outcome.problems:
                self.stderr.write(f"{path}:{problem.line}: {problem.message}")
            problems += len(outcome.problems)
            if not outcome.changes:
                continue
            changed += 1
            changes += outcome.changes
            if options["diff"]:
                self.stdout.write(
                    "".join(
                        difflib.unified_diff(
                            source.splitlines(keepends=True),
                            outcome.source.splitlines(keepends=True),
                            fromfile=str(path),
                            tofile=str(path),
                        )
                    ),
                    ending="",
                )
            if write:
                path.write_bytes(outcome.source.encode(encoding))
                self.stdout.write(f"{path}: rewrote {outcome.changes} import(s).")
        verb = "Rewrote" if write else "Would rewrite"
        self.stdout.write(
            f"{verb} {changes} import(s) in {changed} file(s); {problems} left to change by hand."
        )
        if options["check"] and (changed or problems):
            raise CommandError(
                f"{changed} file(s) still import django_q where qcompat could be imported, and "
                f"{problems} import(s) need changing by hand.",
                returncode=1,
            )
