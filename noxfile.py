"""Developer and CI sessions. ``nox`` alone runs lint, types, docs and the test matrix."""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "virtualenv"
nox.options.sessions = ["lint", "typecheck", "docs", "tests"]
nox.options.error_on_missing_interpreters = os.environ.get("CI") == "true"

PYPROJECT = nox.project.load_toml("pyproject.toml")
GROUPS = PYPROJECT["dependency-groups"]

# Sessions without a Python of their own run on the interpreter that runs nox.
# The oldest supported Python with the oldest Django line, the newest with the newest.
MATRIX = [("3.11", "5.2"), ("3.13", "6.1")]


@nox.session
@nox.parametrize("python,django", MATRIX, ids=[f"py{p}-django{d}" for p, d in MATRIX])
def tests(session: nox.Session, django: str) -> None:
    """The test suite on SQLite, then on PostgreSQL, with real Celery workers on Redis."""
    session.install("-e", ".", *GROUPS["test"], f"django~={django}.0")
    for database in ("sqlite", "postgres"):
        session.run(
            "python",
            "-m",
            "pytest",
            *session.posargs,
            env={"QCOMPAT_TEST_DB": database},
        )


@nox.session
def lint(session: nox.Session) -> None:
    session.install(*GROUPS["lint"])
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".", *GROUPS["typing"], *GROUPS["test"])
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation, warnings as errors; the diagram needs Graphviz's ``dot``."""
    session.install("-e", ".", *GROUPS["docs"])
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")


@nox.session
def demo(session: nox.Session) -> None:
    """Run the demo: a real worker and the admin, on SQLite and a broker with no server."""
    session.install("-e", ".")
    session.run("python", "demo_project/manage.py", "rundemo", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """qcompat against raw Celery + django-celery-results, on Redis and PostgreSQL."""
    session.install("-e", ".", "psycopg[binary]>=3.1")
    session.run("python", "bench/throughput.py", *session.posargs)
