"""``async_task``: turn a Django Q call into a Celery message (or an in-process run)."""

from __future__ import annotations

import base64
import dataclasses
import functools
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone
from kombu import Connection, Producer
from kombu.exceptions import EncodeError

from qcompat import serializers, signals
from qcompat.callables import dotted_path
from qcompat.envelope import EXECUTE_TASK_NAME, HEADER, TaskInfo
from qcompat.exceptions import ArgumentsNotSerializable
from qcompat.options import Options, take_options

#: One link of a chain, or one function to call: ``(func, args, kwargs)``.
Call = tuple[str | Callable[..., Any], Sequence[Any], dict[str, Any]]


def async_task(func: str | Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    """Queue ``func(*args, **kwargs)`` on a Celery worker; return the task's id.

    Options (``hook``, ``group``, ``timeout``, ``sync``, ``save``, ``task_name``,
    ``broker``/``redis``, ``cluster``, ``ack_failure``, ``on_commit``) are taken
    out of ``kwargs``; those named in a ``q_options`` dict are read from it
    instead, which leaves same-named keyword arguments to the function.
    ``q_options`` also takes Celery's ``queue``, ``priority``, ``countdown``,
    ``eta``, ``expires``, ``retry`` and ``retry_policy``.
    """
    options = take_options(kwargs)
    return enqueue(dotted_path(func), args, kwargs, options)


def enqueue(
    func: str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    options: Options,
    *,
    chain: Sequence[Call] = (),
    iter_count: int | None = None,
    iter_hook: str | None = None,
) -> str:
    """Send (or, with ``sync``, run) one task whose options are already checked."""
    task_id = uuid.uuid4().hex
    info = TaskInfo(
        func=func,
        name=options.task_name,
        started=timezone.now(),
        group=options.group,
        hook=options.hook,
        save=options.save,
        chain=_pack(task_id, func, chain) if chain else None,
        iter_count=iter_count,
        iter_hook=iter_hook,
    )
    args = tuple(args)
    # The payload costs a name to build; most projects have no receivers at all.
    if signals.pre_enqueue.has_listeners(signals.SENDER):
        payload = info.as_django_q(task_id, args, kwargs, timeout=options.timeout)
        signals.pre_enqueue.send(sender=signals.SENDER, task=payload)
        # As in Django Q, receivers may change the task before it is sent.
        info, args, kwargs = _changed_by_receivers(info, payload)
    if options.sync:
        deliver = functools.partial(_run_in_process, task_id, info, args, kwargs)
    else:
        deliver = functools.partial(_send, task_id, info, args, kwargs, options)
    if options.on_commit:
        transaction.on_commit(deliver)
    else:
        deliver()
    return task_id


def _changed_by_receivers(
    info: TaskInfo, payload: dict[str, Any]
) -> tuple[TaskInfo, tuple[Any, ...], dict[str, Any]]:
    hook = payload.get("hook")
    changed = dataclasses.replace(
        info,
        name=payload.get("name") or None,
        group=payload.get("group"),
        hook=None if hook is None else dotted_path(hook, role="hook"),
    )
    return changed, tuple(payload.get("args") or ()), dict(payload.get("kwargs") or {})


def _send(
    task_id: str, info: TaskInfo, args: tuple[Any, ...], kwargs: dict[str, Any], options: Options
) -> None:
    connection = options.connection
    publish: dict[str, Any] = {
        **options.publish,
        "task_id": task_id,
        # Workers, events and Flower show the function; task_routes are asked about it.
        "shadow": info.func,
        "route_name": info.func,
        "serializer": serializers.SERIALIZER_NAME,
        "headers": {HEADER: info.to_header()},
        "time_limit": options.timeout,
        "producer": connection if isinstance(connection, Producer) else None,
        "connection": connection if isinstance(connection, Connection) else None,
    }
    try:
        current_app.tasks[EXECUTE_TASK_NAME].apply_async(args, kwargs, **publish)
    except EncodeError as error:
        raise _not_serializable(info.func, error) from error


def _run_in_process(
    task_id: str, info: TaskInfo, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    # The round trip makes sync=True fail on exactly the arguments a worker would refuse.
    try:
        args, kwargs = serializers.loads(serializers.dumps((args, kwargs)))
    except Exception as error:
        raise _not_serializable(info.func, error) from error
    headers: dict[str, Any] = {HEADER: info.to_header()}
    current_app.tasks[EXECUTE_TASK_NAME].apply(
        args, kwargs, task_id=task_id, headers=headers, throw=False
    )


def _pack(task_id: str, func: str, chain: Sequence[Call]) -> str:
    try:
        signed = serializers.dumps(list(chain))
    except Exception as error:
        raise _not_serializable(func, error) from error
    return base64.b64encode(signed).decode("ascii")


def unpack_chain(packed: str) -> list[Call]:
    links: list[Call] = serializers.loads(base64.b64decode(packed))
    return links


def _not_serializable(func: str, error: Exception) -> ArgumentsNotSerializable:
    return ArgumentsNotSerializable(
        f"The arguments of {func} cannot be pickled ({error}); nothing was enqueued."
    )
