# Loading the Celery app with Django makes async_task send through it.
from demo_project.celery import app as celery_app

__all__ = ("celery_app",)
