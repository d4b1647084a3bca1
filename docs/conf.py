"""Sphinx configuration of qcompat's documentation.

Build it with ``nox -s docs``, or with
``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
The architecture diagram needs Graphviz's ``dot`` program.
"""

from __future__ import annotations

import sys
from importlib.metadata import version as package_version
from pathlib import Path

import django
from django.conf import settings

DOCS = Path(__file__).resolve().parent
# The package is installed in the build environment; the checkout comes first so that
# autodoc reads the code next to these pages.
sys.path.insert(0, str(DOCS.parent))

# autodoc imports qcompat's modules, and its models need a configured Django.
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "qcompat"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    SECRET_KEY="only-for-building-the-documentation",  # noqa: S106 - signs nothing
    USE_TZ=True,
)
django.setup()

project = "qcompat"
author = "qcompat developers"
copyright = "qcompat developers"
release = package_version("qcompat")
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.graphviz",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build", "_inventories"]
nitpicky = True
# Type names that autodoc writes into signatures but that no inventory documents.
nitpick_ignore = [
    ("py:class", "kombu.connection.Connection"),
    ("py:class", "kombu.messaging.Producer"),
]

# The inventories are kept in _inventories/ (its README tells how they were made), so
# that building needs no network; the links still point at the published sites.
intersphinx_mapping = {
    "python": ("https://docs.python.org/3.11/", "_inventories/python.inv"),
    "django": ("https://docs.djangoproject.com/en/5.2/", "_inventories/django.inv"),
    "celery": ("https://docs.celeryq.dev/en/stable/", "_inventories/celery.inv"),
    "kombu": ("https://docs.celeryq.dev/projects/kombu/en/stable/", "_inventories/kombu.inv"),
}
intersphinx_timeout = 1

autodoc_member_order = "bysource"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True

graphviz_output_format = "svg"

html_theme = "furo"
html_title = f"qcompat {release}"
html_static_path: list[str] = []
pygments_style = "friendly"
pygments_dark_style = "monokai"


def setup(app):  # type: ignore[no-untyped-def]
    # The roles Django's and Celery's docs use for settings and management commands,
    # so that :setting:`SECRET_KEY` and :setting:`task_routes` resolve through intersphinx.
    app.add_crossref_type("setting", "setting", indextemplate="pair: %s; setting")
    app.add_crossref_type("django-admin", "djadmin", indextemplate="pair: %s; django-admin")
