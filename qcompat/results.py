"""Reading finished tasks back: ``result``, ``fetch`` and the group functions.

``wait`` is in milliseconds, as in Django Q: 0 looks once, a positive value
polls the table for up to that long, and a negative value polls until there is
something to return.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from qcompat.exceptions import InvalidTaskId
from qcompat.models import Task, TaskQuerySet

T = TypeVar("T")

_FIRST_POLL_SECONDS = 0.01
_LONGEST_POLL_SECONDS = 0.1


def _poll(look: Callable[[], T], ready: Callable[[T], bool], wait: float) -> T:
    deadline = None if wait < 0 else time.monotonic() + wait / 1000
    pause = _FIRST_POLL_SECONDS
    while True:
        found = look()
        if ready(found) or (deadline is not None and time.monotonic() >= deadline):
            return found
        time.sleep(pause if deadline is None else max(0, min(pause, deadline - time.monotonic())))
        pause = min(pause * 2, _LONGEST_POLL_SECONDS)


def _checked_id(task_id: Any) -> str:
    if isinstance(task_id, uuid.UUID):
        return task_id.hex
    if not isinstance(task_id, str) or not task_id:
        raise InvalidTaskId(
            f"A task id or name is a non-empty string (or a uuid.UUID), not {task_id!r}."
        )
    return task_id


def _checked_group(group_id: Any) -> str:
    if not isinstance(group_id, str) or not group_id:
        raise InvalidTaskId(f"A group id is a non-empty string, not {group_id!r}.")
    return group_id


def result(task_id: str | uuid.UUID, wait: float = 0) -> Any:
    """The task's return value (or error text if it failed); None until it has finished."""
    key = _checked_id(task_id)
    return _poll(lambda: Task.get_result(key), lambda value: value is not None, wait)


def fetch(task_id: str | uuid.UUID, wait: float = 0) -> Task | None:
    """The finished :class:`~qcompat.models.Task`, or None."""
    key = _checked_id(task_id)
    return _poll(lambda: Task.get_task(key), lambda task: task is not None, wait)


def _wait_for_group(group_id: str, wait: float, count: int | None) -> None:
    if count is not None:
        _poll(lambda: Task.get_group_count(group_id), lambda found: found >= count, wait)


def result_group(
    group_id: str, failures: bool = False, wait: float = 0, count: int | None = None
) -> list[Any]:
    """The group's results in enqueue order; failures (as error text) only if asked."""
    group = _checked_group(group_id)
    _wait_for_group(group, wait, count)
    return _poll(lambda: Task.get_result_group(group, failures), bool, 0 if count else wait)


def fetch_group(
    group_id: str, failures: bool = True, wait: float = 0, count: int | None = None
) -> TaskQuerySet:
    """The group's tasks in enqueue order, as a QuerySet."""
    group = _checked_group(group_id)
    _wait_for_group(group, wait, count)
    return _poll(
        lambda: Task.get_task_group(group, failures),
        lambda tasks: tasks.exists(),
        0 if count else wait,
    )


def count_group(group_id: str, failures: bool = False) -> int:
    """How many tasks of the group have finished; only failures if ``failures``."""
    return Task.get_group_count(_checked_group(group_id), failures)


def delete_group(group_id: str, tasks: bool = False) -> int:
    """Remove the group label from its tasks, or delete them with ``tasks=True``.

    Returns the number of tasks affected.
    """
    return Task.delete_group(_checked_group(group_id), objects=tasks)
