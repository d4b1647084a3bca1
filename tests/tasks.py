"""A native Celery task, found by ``autodiscover_tasks()`` as in any Django project."""

from celery import shared_task


@shared_task(name="tests.native_add")
def native_add(a, b):
    return a + b


@shared_task(name="tests.native_fail")
def native_fail():
    raise KeyError("native failure")
