"""Which Celery app the management commands and checks work with."""

from __future__ import annotations

from celery import Celery
from django.core.management.base import CommandError, CommandParser


def add_app_argument(parser: CommandParser) -> None:
    parser.add_argument(
        "--app",
        help="The Celery app, as `celery -A` takes it (proj.celery:app). By default, the "
        "project's app: the one proj/celery.py creates.",
    )


def project_app() -> Celery | None:
    """The project's Celery app: the current one, or None if the project created none.

    Creating a ``Celery`` instance makes it current, so the app a project's
    ``proj/celery.py`` defines (imported by ``proj/__init__.py``, as Celery's Django
    guide shows) is current once Django's settings are loaded. Celery's fallback
    app is never returned: it is not the project's and has no configuration.
    """
    from celery import _state

    app: Celery | None = _state._tls.current_app  # type: ignore[attr-defined]
    return app


def celery_app(path: str | None = None) -> Celery:
    """The app at ``path`` (``module`` or ``module:attribute``, as ``celery -A`` takes it),
    else the project's app; CommandError if there is none."""
    if path:
        from celery.app.utils import find_app

        try:
            found = find_app(path)
        except (ImportError, AttributeError) as error:
            raise CommandError(f"The Celery app {path!r} cannot be imported ({error}).") from error
        if not isinstance(found, Celery):
            raise CommandError(f"{path!r} is a {type(found).__name__}, not a Celery app.")
        return found
    app = project_app()
    if app is None:
        raise CommandError(
            "No Celery app is defined. Create one in proj/celery.py and import it in "
            "proj/__init__.py, as Celery's guide for Django shows, or name it with "
            "--app proj.celery:app."
        )
    return app
