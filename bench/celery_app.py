"""The benchmark's Celery app, set up the standard Django way.

Its result backend is django-celery-results' ``django-db``, as in a project that
used Celery before adopting qcompat; qcompat's own task stores in its ``Task``
table whatever the app's backend is.
"""

from celery import Celery

app = Celery("qcompat-bench")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
