"""``async_iter``: one function over many argument tuples, collated into one result.

Each call runs as its own task in a group named by the iteration's id. When
the last call is saved, the results are collated in argument order (Django Q
collates in completion order) into one task whose id is the iteration's id,
and the calls' own rows are removed.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from qcompat import hooks, results
from qcompat.callables import dotted_path
from qcompat.enqueue import enqueue
from qcompat.models import Task
from qcompat.names import task_name_for
from qcompat.options import take_options


def async_iter(func: str | Callable[..., Any], args_iter: Iterable[Any], **kwargs: Any) -> str:
    """Call ``func`` once per item of ``args_iter``; return the id of the collated result.

    An item that is not a tuple is passed as the only argument. Options are
    those of ``async_task``; ``hook`` runs once, on the collated task.
    """
    path = dotted_path(func)
    options = take_options(kwargs)
    calls = [item if isinstance(item, tuple) else (item,) for item in args_iter]
    if not calls:
        raise ValueError("async_iter needs at least one argument tuple.")
    iter_id = uuid.uuid4().hex
    # The hook runs once, on the collated task, not on each call.
    per_call = dataclasses.replace(options, group=iter_id, save=True, task_name=None, hook=None)
    for args in calls:
        enqueue(path, args, kwargs, per_call, iter_count=len(calls), iter_hook=options.hook)
    return iter_id


def collate_if_complete(
    iter_id: str, count: int, hook: str | None, *, inline: bool, using: str
) -> None:
    """Store the collated task once all ``count`` calls of the iteration are saved."""
    calls = Task.objects.db_manager(using).in_group(iter_id).in_enqueue_order()
    # A cheap count first: only the last calls to finish need to read and lock the rows.
    if calls.count() < count:
        return
    with transaction.atomic(using=using):
        rows = list(calls.select_for_update())
        if len(rows) < count:
            return
        first = rows[0]
        fields = {
            "name": task_name_for(iter_id),
            "func": first.func,
            "hook": hook,
            "group": None,
            "args": [row.args for row in rows],
            "kwargs": first.kwargs,
            "result": [row.result for row in rows],
            "exception": None,
            "started": min(row.started for row in rows),
            "stopped": timezone.now(),
            "success": all(row.success for row in rows),
        }
        created = Task.objects.db_manager(using).store_result(iter_id, fields)
        calls.filter(pk__in=[row.pk for row in rows]).delete()
    if created and hook:
        hooks.dispatch(iter_id, hook, inline=inline, using=using)


class Iter:
    """Django Q's ``Iter``: collect argument tuples with ``append``, then ``run``."""

    def __init__(
        self,
        func: str | Callable[..., Any] | None = None,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        sync: bool | None = None,
        broker: Any = None,
    ) -> None:
        self.func = func
        self.args: list[Any] = list(args or ())
        self.kwargs = dict(kwargs or {})
        if sync is not None:
            self.kwargs["sync"] = sync
        if broker is not None:
            self.kwargs["broker"] = broker
        self.id = ""
        self.started = False

    def append(self, *args: Any) -> int:
        """Add one call's arguments; returns how many calls there are."""
        self.args.append(args)
        self.started = False
        return self.length()

    def run(self) -> str:
        """Start the calls; return the id the collated result will have."""
        if self.func is None:
            raise ValueError("Iter has no function to run.")
        self.id = async_iter(self.func, self.args, **self.kwargs)
        self.started = True
        return self.id

    def result(self, wait: float = 0) -> Any:
        """The collated results, in argument order; None before ``run`` or until all are done."""
        return results.result(self.id, wait=wait) if self.started else None

    def fetch(self, wait: float = 0) -> Task | None:
        """The collated task; None before ``run`` or until all calls are done."""
        return results.fetch(self.id, wait=wait) if self.started else None

    def length(self) -> int:
        """How many calls there are."""
        return len(self.args)
