"""The project's Celery app, set up the standard Django way, with no queue of its own:
the queue comes from Q_CLUSTER's ``name``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.qcluster_project.settings")

app = Celery("qcluster_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
