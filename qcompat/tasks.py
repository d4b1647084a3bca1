"""The Django Q task API (``django_q.tasks``), backed by Celery."""

from __future__ import annotations

from typing import Any

from qcompat.asynctask import Async, AsyncTask
from qcompat.chains import Chain, async_chain
from qcompat.enqueue import async_task
from qcompat.iterations import Iter, async_iter
from qcompat.queues import queue_size
from qcompat.results import count_group, delete_group, fetch, fetch_group, result, result_group

__all__ = [
    "Async",
    "AsyncTask",
    "Chain",
    "Iter",
    "async_chain",
    "async_iter",
    "async_task",
    "count_group",
    "delete_group",
    "fetch",
    "fetch_group",
    "queue_size",
    "result",
    "result_group",
]


def __getattr__(name: str) -> Any:
    # Django Q's original name is a keyword since Python 3.7; getattr() still reaches it.
    if name == "async":
        return async_task
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
