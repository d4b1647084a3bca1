"""Hooks the tests attach to tasks; each records what it saw in ``HookCall``.

The test Celery apps route ``tests.hooks.*`` to a queue of their own, so a hook
can run while the worker is still busy with the task it follows.
"""

from celery import current_task

from qcompat.models import Task
from tests.models import HookCall


def record(task):
    HookCall.objects.create(
        task_id=task.id,
        hook="record",
        success=task.success,
        result=str(task.result),
        row_committed=Task.objects.filter(pk=task.id, success=task.success).exists(),
        queue=_queue(),
    )


def explode(task):
    HookCall.objects.create(
        task_id=task.id,
        hook="explode",
        success=task.success,
        result="",
        row_committed=True,
        queue=_queue(),
    )
    raise RuntimeError(f"hook failure for {task.id}")


def _queue():
    # Empty when the hook runs inline under sync=True, outside any Celery task.
    if current_task and not current_task.request.called_directly:
        return current_task.request.delivery_info.get("routing_key") or ""
    return ""
