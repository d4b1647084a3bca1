"""Django Q's ``AsyncTask`` (``Async`` before Django Q 1.0): a task built up, then run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qcompat import results
from qcompat.enqueue import async_task
from qcompat.models import Task, TaskQuerySet


def _option(key: str) -> property:
    """An option that lives in ``kwargs`` (or in ``kwargs["q_options"]`` when present)."""

    def holder(task: AsyncTask) -> dict[str, Any]:
        q_options = task.kwargs.get("q_options")
        return q_options if isinstance(q_options, dict) else task.kwargs

    def get(task: AsyncTask) -> Any:
        return holder(task).get(key)

    def set_(task: AsyncTask, value: Any) -> None:
        holder(task)[key] = value
        # A changed task is a new task: it has to run again.
        task.started = False

    return property(get, set_, doc=f"The task's ``{key}`` option.")


class AsyncTask:
    """A task whose function, arguments and options are set first and sent by ``run``."""

    broker = _option("broker")
    sync = _option("sync")
    save = _option("save")
    hook = _option("hook")
    group = _option("group")

    def __init__(self, func: str | Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.id = ""
        self.started = False
        self.func = func
        self.args = args
        self.kwargs = kwargs

    def run(self) -> str:
        """Send the task; return its id."""
        self.id = async_task(self.func, *self.args, **self.kwargs)
        self.started = True
        return self.id

    def result(self, wait: float = 0) -> Any:
        """The task's result, as :func:`~qcompat.tasks.result` gives it; None before ``run``."""
        return results.result(self.id, wait=wait) if self.started else None

    def fetch(self, wait: float = 0) -> Task | None:
        """The finished task, as :func:`~qcompat.tasks.fetch` gives it; None before ``run``."""
        return results.fetch(self.id, wait=wait) if self.started else None

    def result_group(
        self, failures: bool = False, wait: float = 0, count: int | None = None
    ) -> list[Any] | None:
        """The results of the task's group; None before ``run`` or without a group."""
        if not (self.started and self.group):
            return None
        return results.result_group(self.group, failures=failures, wait=wait, count=count)

    def fetch_group(
        self, failures: bool = True, wait: float = 0, count: int | None = None
    ) -> TaskQuerySet | None:
        """The tasks of the task's group; None before ``run`` or without a group."""
        if not (self.started and self.group):
            return None
        return results.fetch_group(self.group, failures=failures, wait=wait, count=count)


#: The name of ``AsyncTask`` in Django Q 0.x.
Async = AsyncTask
