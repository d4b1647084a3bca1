"""qcompat: the Django Q task API, running on Celery.

The names below are loaded on first use, because Django imports this package
while it is still loading apps, before models may be imported.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qcompat.tasks import (
        Async,
        AsyncTask,
        Chain,
        Iter,
        async_chain,
        async_iter,
        async_task,
        count_group,
        delete_group,
        fetch,
        fetch_group,
        queue_size,
        result,
        result_group,
    )

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
    if name in __all__ or name == "async":
        return getattr(import_module("qcompat.tasks"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
