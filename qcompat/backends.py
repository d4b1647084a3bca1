"""A Celery result backend that stores finished tasks in qcompat's ``Task`` table.

qcompat's own task always stores through this backend, whatever result backend
the Celery app has. Made the app's backend (``CELERY_RESULT_BACKEND =
"qcompat.backends.TaskBackend"``), it stores native Celery tasks as ``Task``
rows too, with the task's registered name as ``func``.

Only ready states are stored: Django Q has no row for a task that has not
finished, and ``result()``/``fetch()`` rely on that.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, states
from celery.backends.base import BaseBackend
from celery.exceptions import TimeLimitExceeded
from django.db import router
from django.utils import timezone

from qcompat import conf, hooks, serializers, signals
from qcompat.envelope import TaskInfo
from qcompat.names import task_name_for


def failure_text(exception: BaseException, traceback: str | None) -> str:
    """Django Q's stored form of a failure: ``"{exception} : {traceback}"``."""
    if isinstance(exception, TimeLimitExceeded):
        limit = f"{exception.args[0]:g}" if exception.args else "?"
        message = f"Task exceeded maximum timeout value ({limit} seconds)"
    else:
        message = str(exception) or type(exception).__name__
    return f"{message} : {traceback}" if traceback else message


class TaskBackend(BaseBackend):
    """Stores ready task states as ``qcompat.models.Task`` rows."""

    app: Celery
    supports_native_join = False
    #: How often ``AsyncResult.get()`` looks at the table while it waits.
    subpolling_interval = 0.1

    def _store_result(
        self,
        task_id: str,
        result: Any,
        state: str,
        traceback: str | None = None,
        request: Any = None,
        **kwargs: Any,
    ) -> Any:
        if state not in states.READY_STATES:
            return result
        info = TaskInfo.from_request(request)
        success = state == states.SUCCESS
        if success and not _keeps_successes(info):
            return result
        # Models are imported when first needed: Celery may resolve this backend
        # class before Django has loaded its apps.
        from qcompat.models import Task

        now = timezone.now()
        if success and not _picklable(result):
            success = False
            result = TypeError(
                f"The task's return value ({type(result).__name__}) cannot be pickled, "
                "so it cannot be stored."
            )
        if success:
            value, exception = result, None
        else:
            error = result if isinstance(result, Exception) else self.exception_to_python(result)
            value = failure_text(error, traceback)
            exception = self.prepare_exception(error, serializer="json")
        fields = {
            "name": info.name if info and info.name else task_name_for(task_id),
            "func": info.func if info else str(getattr(request, "task", None) or "unknown"),
            "hook": info.hook if info else None,
            "group": info.group if info else None,
            "started": info.started if info else now,
            "args": tuple(getattr(request, "args", None) or ()),
            "kwargs": dict(getattr(request, "kwargs", None) or {}),
            "result": value,
            "exception": exception,
            "stopped": now,
            "success": success,
        }
        using = router.db_for_write(Task)
        tasks = Task.objects.db_manager(using)
        if not tasks.store_result(task_id, fields):
            return result
        keep = conf.save_limit()
        if success and keep > 0:
            tasks.prune_successes(keep)
        if info is not None:
            inline = bool(getattr(request, "is_eager", False))
            _after_save(task_id, info, fields, inline=inline, using=using)
        return result

    def _get_task_meta_for(self, task_id: str) -> dict[str, Any]:
        from qcompat.models import Task

        row = (
            Task.objects.filter(pk=task_id)
            .values("result", "exception", "success", "stopped")
            .first()
        )
        if row is None:
            return {"task_id": task_id, "status": states.PENDING, "result": None}
        status: str
        if row["success"]:
            status, value, traceback = states.SUCCESS, row["result"], None
        else:
            exception = row["exception"] or {
                "exc_type": "Exception",
                "exc_module": "builtins",
                "exc_message": [row["result"]],
            }
            revoked = exception.get("exc_type") == "TaskRevokedError"
            status = states.REVOKED if revoked else states.FAILURE
            value, traceback = exception, row["result"]
        return self.meta_from_decoded(
            {
                "task_id": task_id,
                "status": status,
                "result": value,
                "traceback": traceback,
                "date_done": row["stopped"],
                "children": [],
            }
        )

    def _forget(self, task_id: str) -> None:
        from qcompat.models import Task

        Task.objects.filter(pk=task_id).delete()


#: Types pickle always takes, so the common results skip the trial below.
_ALWAYS_PICKLABLE = frozenset({type(None), bool, int, float, str, bytes})


def _picklable(value: Any) -> bool:
    if type(value) in _ALWAYS_PICKLABLE:
        return True
    try:
        serializers.dumps(value)
    except Exception:
        return False
    return True


def _keeps_successes(info: TaskInfo | None) -> bool:
    # An explicit save= wins; otherwise Q_CLUSTER["save_limit"] = -1 keeps no successes.
    if info is not None and info.save is not None:
        return info.save
    return conf.save_limit() >= 0


def _after_save(
    task_id: str, info: TaskInfo, fields: dict[str, Any], *, inline: bool, using: str
) -> None:
    """What follows a task's first save: its hook, its chain's next link, its iteration."""
    from qcompat import chains, iterations

    if info.hook:
        hooks.dispatch(task_id, info.hook, inline=inline, using=using)
    if info.chain:
        chains.continue_chain(info.chain, info.group, inline=inline, using=using)
    if info.iter_count and info.group:
        iterations.collate_if_complete(
            info.group, info.iter_count, info.iter_hook, inline=inline, using=using
        )
    if signals.post_execute.has_listeners(signals.SENDER):
        # The task is stored; a failing receiver is logged (by Django) and changes nothing.
        signals.post_execute.send_robust(
            sender=signals.SENDER,
            task=info.as_django_q(
                task_id,
                fields["args"],
                fields["kwargs"],
                result=fields["result"],
                success=fields["success"],
                stopped=fields["stopped"],
            ),
        )
