"""The Celery side of qcompat: the task that runs every function, and the hook task.

Every ``async_task`` call sends one message to the registered task
``qcompat.execute``. The message's ``shadow`` name is the function's dotted
path, so workers, ``celery inspect``, ``celery events`` and Flower show the
function rather than one opaque name, and the router is asked about the
function's path, so ``task_routes`` keyed by it apply.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task, shared_task
from celery._state import _get_active_apps, connect_on_app_finalize  # type: ignore[attr-defined]
from celery.backends.base import Backend

from qcompat import hooks, serializers, signals
from qcompat.backends import TaskBackend
from qcompat.callables import import_by_path
from qcompat.envelope import EXECUTE_TASK_NAME, HOOK_TASK_NAME, TaskInfo


class QCompatTask(Task):  # type: ignore[type-arg]
    """Stores through :class:`TaskBackend` whatever the app's own result backend is."""

    typing = False
    # sync=True runs the task with apply(); this makes apply() store the row too.
    store_eager_result = True

    @property
    def backend(self) -> Backend:
        app_backend = self.app.backend
        if isinstance(app_backend, TaskBackend):
            return app_backend
        own: Backend | None = self.__dict__.get("_qcompat_backend")
        if own is None:
            own = self.__dict__["_qcompat_backend"] = TaskBackend(app=self.app)
        return own

    @backend.setter
    def backend(self, value: Backend) -> None:
        self.__dict__["_qcompat_backend"] = value


@shared_task(bind=True, base=QCompatTask, name=EXECUTE_TASK_NAME)
def execute(self: QCompatTask, *args: Any, **kwargs: Any) -> Any:
    task_id = str(self.request.id)
    info = TaskInfo.from_request(self.request)
    if info is None:
        raise ValueError(f"Message {task_id} has no qcompat header; nothing was run.")
    function = import_by_path(info.func)
    if signals.pre_execute.has_listeners(signals.SENDER):
        payload = info.as_django_q(task_id, args, kwargs)
        signals.pre_execute.send(sender=signals.SENDER, func=function, task=payload)
    return function(*args, **kwargs)


@shared_task(name=HOOK_TASK_NAME, ignore_result=True)
def run_hook(task_id: str, hook: str) -> None:
    hooks.call_hook(task_id, hook)


def accept_signed_messages(app: Celery) -> None:
    """Let ``app``'s workers accept qcompat's signed messages, and nothing else new.

    The deployment's own ``accept_content`` is kept; plain pickle stays refused.
    """
    accepted = list(app.conf.accept_content or ())
    if serializers.SERIALIZER_NAME not in accepted and serializers.CONTENT_TYPE not in accepted:
        app.conf.accept_content = [*accepted, serializers.SERIALIZER_NAME]


serializers.register_with_kombu()
connect_on_app_finalize(accept_signed_messages)
for _app in _get_active_apps():
    if _app.finalized:
        accept_signed_messages(_app)
