"""Calling a task's hook once its row is committed.

The result backend calls :func:`dispatch` right after it created a task's row.
On a worker the hook becomes its own Celery task (``qcompat.hook``), published
when the row's transaction commits, so it shows in Flower under the hook's
path, can be routed to a queue of its own, and never holds the worker slot of
the task it follows. Under ``sync=True`` it runs inline before ``async_task``
returns.
"""

from __future__ import annotations

import logging

from celery import current_app
from django.db import transaction

from qcompat.callables import import_by_path
from qcompat.envelope import HOOK_TASK_NAME

logger = logging.getLogger(__name__)


def dispatch(task_id: str, hook: str, *, inline: bool, using: str) -> None:
    if inline:
        call_hook(task_id, hook, using=using)
        return

    def publish() -> None:
        current_app.send_task(
            HOOK_TASK_NAME,
            args=(task_id, hook),
            task_id=None,
            shadow=hook,
            route_name=hook,
            serializer="json",
            ignore_result=True,
        )

    transaction.on_commit(publish, using=using)


def call_hook(task_id: str, hook: str, *, using: str | None = None) -> None:
    """Call ``hook`` with the saved task; log, never raise, whatever goes wrong."""
    from qcompat.models import Task

    task = Task.objects.db_manager(using).filter(pk=task_id).first()
    if task is None:
        logger.error("Hook %s not called: task %s has no saved row.", hook, task_id)
        return
    try:
        function = import_by_path(hook)
    except ImportError as error:
        logger.error("Hook %s for task %s (%s) cannot be imported: %s", hook, task_id, task, error)
        return
    try:
        function(task)
    except Exception:
        logger.exception("Hook %s for task %s (%s) raised an exception.", hook, task_id, task)
