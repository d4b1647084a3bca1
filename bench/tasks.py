"""The raw Celery side of the benchmark, found by ``autodiscover_tasks()``."""

from celery import shared_task


@shared_task(name="bench.noop_task")
def noop_task():
    """The same no-op as ``bench.jobs.noop``, as a native Celery task."""
