"""The documentation's examples, run as tests, so that the pages cannot drift from the code.

How the pages in ``docs/`` mark their examples:

- A ``.. code-block:: pycon`` block is a doctest: its output must match what it prints
  (``...`` stands for any text, and runs of whitespace compare equal).
- A comment ``.. test: MODE [MODE...]`` on the line before a code block (blank lines
  between are allowed) says where the block runs; a pycon block without one runs in
  ``sync`` mode only. The modes:

  ``sync``
      In this process, with ``Q_CLUSTER = {"sync": True}``, on the test database.
  ``worker``
      In this process, sending tasks to the real Celery worker of ``tests/conftest.py``,
      once per result-backend setup. Such blocks may use only functions the worker can
      import.
  ``project``
      In the new project that the quickstart builds from scratch in a temporary folder:
      console commands are run (``pip install`` lines excepted: the test environment
      has the packages), files are written, doctests run in ``manage.py shell``.
  ``worker-log``
      A ``text`` block of lines that the project's worker must log (``...`` as above).
  ``skip``
      Not run.

- A code block captioned with a file path (``myapp/hooks.py``) is that file of the
  example. ``Append to PATH`` and ``PATH (continued)`` add to the file. In ``sync`` and
  ``worker`` runs, the page's files (of blocks not marked ``project``) are written to a
  temporary folder on ``sys.path``; in ``project`` runs, into the project.
- Every ``python`` block must compile, whatever its mode.
"""

from __future__ import annotations

import base64
import dataclasses
import doctest
import importlib
import os
import pickle
import re
import shlex
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.test import override_settings

from qcompat.callables import import_by_path
from tests.project_processes import Service

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(path.stem for path in DOCS.glob("*.rst"))
MODES = {"sync", "worker", "project", "worker-log", "skip"}
# The pages whose project blocks build one project, in this order.
PROJECT_PAGES = ["installation", "testing", "migrating"]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
# Queues that examples on a worker send to, which no worker consumes.
UNCONSUMED_QUEUES = ["reports"]
WAIT_SECONDS = 60

_DIRECTIVE = re.compile(r"^(?P<indent> *)\.\. code-block:: *(?P<language>\S+) *$")
_OPTION = re.compile(r"^ *:(?P<name>[\w-]+): *(?P<value>.*)$")
_MARKER = re.compile(r"^ *\.\. test: *(?P<modes>.*?) *$")
_FILE = re.compile(r"(?P<append>Append to )?(?P<path>[\w./-]+\.\w+)(?P<continued> \(continued\))?")


@dataclasses.dataclass(frozen=True)
class Block:
    page: str
    line: int  # of the directive, counting from 1
    language: str
    caption: str | None
    modes: frozenset[str]
    text: str

    @property
    def where(self) -> str:
        return f"docs/{self.page}.rst, line {self.line}"

    @property
    def file(self) -> tuple[str, bool] | None:
        """The file this block is, and whether it adds to it, from its caption."""
        match = _FILE.fullmatch(self.caption or "")
        if match is None:
            return None
        return match["path"], bool(match["append"] or match["continued"])

    def runs_in(self, mode: str) -> bool:
        if "skip" in self.modes:
            return False
        if self.language == "pycon" and not self.modes:
            return mode == "sync"
        return mode in self.modes


def _indentation(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def parse_page(page: str) -> list[Block]:
    lines = (DOCS / f"{page}.rst").read_text().splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        directive = _DIRECTIVE.match(lines[index])
        if directive is None:
            index += 1
            continue
        indent = len(directive["indent"])
        before = index - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        marker = _MARKER.match(lines[before]) if before >= 0 else None
        modes = frozenset(marker["modes"].split()) if marker else frozenset()
        caption = None
        body_start = index + 1
        while body_start < len(lines) and (option := _OPTION.match(lines[body_start])):
            if option["name"] == "caption":
                caption = option["value"].strip()
            body_start += 1
        end = body_start
        while end < len(lines) and (not lines[end].strip() or _indentation(lines[end]) > indent):
            end += 1
        text = textwrap.dedent("\n".join(lines[body_start:end])).strip("\n") + "\n"
        blocks.append(Block(page, index + 1, directive["language"], caption, modes, text))
        index = end
    return blocks


BLOCKS = [block for page in PAGES for block in parse_page(page)]


def pages_with(mode: str) -> list[str]:
    return sorted({block.page for block in BLOCKS if block.runs_in(mode)})


# The conventions themselves


def test_the_pages_have_examples_for_every_mode():
    assert len(PAGES) >= 10
    for mode in ("sync", "worker", "project", "worker-log"):
        assert pages_with(mode), f"no page has an example in {mode} mode"


def test_markers_name_known_modes_and_precede_a_code_block():
    for page in PAGES:
        lines = (DOCS / f"{page}.rst").read_text().splitlines()
        for number, line in enumerate(lines, start=1):
            marker = _MARKER.match(line)
            if marker is None:
                continue
            unknown = set(marker["modes"].split()) - MODES
            assert not unknown, f"docs/{page}.rst, line {number}: unknown modes {unknown}"
            following = next((text for text in lines[number:] if text.strip()), "")
            assert _DIRECTIVE.match(following), (
                f"docs/{page}.rst, line {number}: a test marker must precede a code block"
            )


def test_every_pycon_block_runs_somewhere():
    for block in BLOCKS:
        if block.language == "pycon" and "skip" not in block.modes:
            assert any(block.runs_in(mode) for mode in ("sync", "worker", "project")), block.where


def test_the_configuration_page_names_every_q_cluster_key():
    from qcompat import conf
    from qcompat.checks import HINTS

    page = (DOCS / "configuration.rst").read_text()
    missing = sorted(key for key in conf.MAPPED_KEYS | set(HINTS) if f"``{key}``" not in page)
    assert not missing, f"docs/configuration.rst does not mention Q_CLUSTER keys {missing}"


@pytest.mark.parametrize(
    "block",
    [block for block in BLOCKS if block.language == "python"],
    ids=lambda block: f"{block.page}:{block.line}",
)
def test_python_blocks_compile(block):
    compile(block.text, block.where, "exec")


# Running doctests


def run_doctests(blocks: list[Block], globs: dict[str, object]) -> None:
    """Run ``blocks`` in order, sharing ``globs``; fail with doctest's report."""
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    for block in blocks:
        # The content starts two lines after the directive, or more with options.
        first_line = block.line + 1 + (1 if block.caption else 0)
        path = str(DOCS / f"{block.page}.rst")
        test = parser.get_doctest(block.text, globs, block.where, path, first_line)
        runner.run(test, out=report.append, clear_globs=False)
        globs.update(test.globs)
    if runner.failures:
        pytest.fail("".join(report), pytrace=False)


@contextmanager
def example_files(page: str, folder: Path) -> Iterator[None]:
    """The page's example files, importable for the duration."""
    written = set()
    for block in parse_page(page):
        if block.file is None or block.runs_in("project"):
            continue
        path, append = block.file
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a" if append else "w") as file:
            file.write(block.text)
        written.add(Path(path).parts[0].removesuffix(".py"))
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        for name in list(sys.modules):
            if name.split(".")[0] in written:
                del sys.modules[name]
        import_by_path.cache_clear()


@pytest.mark.django_db
@pytest.mark.parametrize("page", pages_with("sync"))
def test_examples_in_sync_mode(page, tmp_path):
    blocks = [block for block in parse_page(page) if block.runs_in("sync")]
    with override_settings(Q_CLUSTER={"sync": True}), example_files(page, tmp_path):
        run_doctests(blocks, {"__name__": f"docs_{page}"})


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("page", pages_with("worker"))
def test_examples_on_a_worker(page, worker, tmp_path):
    blocks = [block for block in parse_page(page) if block.runs_in("worker")]
    empty_unconsumed_queues(worker.app)
    try:
        with example_files(page, tmp_path):
            run_doctests(blocks, {"__name__": f"docs_{page}"})
    finally:
        empty_unconsumed_queues(worker.app)


def empty_unconsumed_queues(app) -> None:
    """Empty the queues that examples send to and no worker consumes."""
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for queue in UNCONSUMED_QUEUES:
            if connection.transport.driver_type == "amqp":
                # RabbitMQ keeps a queue once a send declared it, and refuses to purge
                # one that nothing declared; deleting it covers both.
                channel.queue_delete(queue)
            else:
                channel.queue_purge(queue)


# The quickstart's project, built from scratch


RUN_DOCTEST = """
import doctest, sys
source = sys.stdin.read()
test = doctest.DocTestParser().get_doctest(source, {"__name__": "__main__"}, "example", None, 0)
runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
runner.run(test)
sys.exit(1 if runner.failures else 0)
"""


def matches(pattern: str, text: str) -> bool:
    """Whether ``pattern`` (with ``...`` for any text) matches one of ``text``'s lines."""
    checker = doctest.OutputChecker()
    return any(
        checker.check_output(pattern + "\n", line + "\n", FLAGS) for line in text.splitlines()
    )


class Project:
    """Follows a page's ``project`` blocks the way a person would, in a temporary folder."""

    def __init__(self, folder: Path, overrides: str) -> None:
        self.cwd = folder
        self.overrides = overrides
        self.worker: Service | None = None
        self.worker_log = folder / "worker.log"
        # A fresh shell: none of this test run's own settings or paths.
        self.env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("DJANGO_", "QCOMPAT_", "PYTEST_", "PYTHONPATH"))
        }

    def follow(self, block: Block) -> None:
        if block.language == "console":
            self.run_commands(block)
        elif block.language == "pycon":
            self.run_in_shell(block)
        elif "worker-log" in block.modes:
            self.expect_in_worker_log(block)
        elif block.file is not None:
            self.write_file(block)
        else:
            raise AssertionError(f"{block.where}: nothing to do with this block")

    def command(self, words: list[str]) -> list[str]:
        program, *rest = words
        if program == "python":
            return [sys.executable, *rest]
        if program in ("django-admin", "celery"):
            return [sys.executable, "-m", program.replace("-admin", ""), *rest]
        raise AssertionError(f"unexpected command {words}")

    def run_commands(self, block: Block) -> None:
        steps: list[tuple[str, list[str]]] = []
        for line in block.text.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif line.strip():
                steps[-1][1].append(line)
        for line, expected in steps:
            words = shlex.split(line)
            if words[:4] == ["python", "-m", "pip", "install"]:
                continue
            if words[0] == "cd":
                self.cwd = self.cwd / words[1]
                continue
            if words[0] == "celery" and "worker" in words:
                self.start_worker(self.command(words))
                continue
            done = subprocess.run(
                self.command(words),
                cwd=self.cwd,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            output = done.stdout + done.stderr
            assert done.returncode == 0, f"{block.where}: {line} failed:\n{output}"
            for pattern in expected:
                assert matches(pattern, output), f"{block.where}: {pattern!r} not in:\n{output}"

    def write_file(self, block: Block) -> None:
        assert block.file is not None
        path, append = block.file
        target = self.cwd / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a" if append else "w") as file:
            file.write(("\n" if append else "") + block.text)
            if path.endswith("settings.py"):
                # This run's broker database and a queue of its own, after the page's lines.
                file.write(self.overrides)

    def run_in_shell(self, block: Block) -> None:
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "--command", RUN_DOCTEST],
            cwd=self.cwd,
            env=self.env,
            input=block.text,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, (
            f"{block.where}:\n{done.stdout}{done.stderr}\nThe worker's log:\n{self.log()}"
        )

    def start_worker(self, command: list[str]) -> None:
        assert self.worker is None, "a worker is running already"
        self.worker = Service(command, self.env, self.worker_log, cwd=self.cwd)
        self.worker.start(timeout=WAIT_SECONDS)

    def log(self) -> str:
        return self.worker_log.read_text(errors="replace") if self.worker_log.exists() else ""

    def expect_in_worker_log(self, block: Block) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        missing = block.text.splitlines()
        while missing and time.monotonic() < deadline:
            missing = [pattern for pattern in missing if not matches(pattern, self.log())]
            time.sleep(0.1)
        assert not missing, f"{block.where}: not in the worker's log: {missing}\n{self.log()}"

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.worker = None


def picklefield(value: object) -> str:
    """A value as django-picklefield stores it in Django Q's columns: base64 of a pickle."""
    return base64.b64encode(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)).decode()


def add_django_q_history(database: Path) -> None:
    """Django Q's task table, as its migrations make it on SQLite, with the two tasks that
    the migration page imports."""
    with closing(sqlite3.connect(database)) as db, db:
        db.execute(
            'CREATE TABLE "django_q_task" ("id" varchar(32) NOT NULL PRIMARY KEY, '
            '"name" varchar(100) NOT NULL, "func" varchar(256) NOT NULL, '
            '"hook" varchar(256) NULL, "args" text NULL, "kwargs" text NULL, '
            '"result" text NULL, "started" datetime NOT NULL, "stopped" datetime NOT NULL, '
            '"success" bool NOT NULL, "group" varchar(100) NULL, "attempt_count" integer NOT NULL)'
        )
        rows = [
            ("0b86cb58d30c422c9cbdf3a2f9324665", "california-pluto-kentucky-uranus",
             "math.copysign", (2, -2), -2.0, True),
            (uuid.uuid4().hex, "kansas-uncle-mango-oscar", "my.buggy.code", (),
             "'NoneType' object is not callable : Traceback (most recent call last): ...", False),
        ]  # fmt: skip
        for task_id, name, func, args, result, success in rows:
            db.execute(
                "INSERT INTO django_q_task VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, NULL, 1)",
                [
                    task_id,
                    name,
                    func,
                    picklefield(args),
                    picklefield({}),
                    picklefield(result),
                    "2025-06-01 11:59:59.500000",
                    "2025-06-01 12:00:00",
                    success,
                ],
            )


@pytest.mark.worker
def test_the_project_pages_build_a_working_project(redis_broker, tmp_path):
    """A fresh project, from ``startproject`` to a task on a worker, its own tests, and a
    migration from Django Q."""
    queue = f"{settings.TEST_QUEUE_PREFIX}-docs-project"
    overrides = (
        "\n# Set by qcompat's test of the documentation: this run's broker and queue.\n"
        f"CELERY_BROKER_URL = {redis_broker!r}\n"
        f"CELERY_TASK_DEFAULT_QUEUE = {queue!r}\n"
    )
    project = Project(tmp_path, overrides)
    try:
        for page in PROJECT_PAGES:
            if page == "migrating":
                # The project's history under Django Q, which the page imports.
                add_django_q_history(project.cwd / "db.sqlite3")
            for block in parse_page(page):
                if block.runs_in("project"):
                    project.follow(block)
            # As a person would, stop the page's worker before going on.
            project.stop_worker()
    finally:
        project.stop_worker()
        client = redis.Redis.from_url(redis_broker)
        client.delete(queue)
        client.close()
