"""A project laid out as Celery's guide for Django shows, with Django Q's Q_CLUSTER settings.

Importing the package creates its Celery app, as a project's ``proj/__init__.py`` does,
so ``manage.py qcluster`` finds it without being told.
"""

from tests.qcluster_project.celery import app

__all__ = ["app"]
