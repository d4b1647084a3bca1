"""``async_task``: turn a Django Q call into a Celery message (or an in-process run)."""

from __future__ import annotations

import dataclasses
import numbers
import uuid
from collections.abc import Callable
from typing import Any

from django.utils import timezone
from humanhash import humanize
from kombu import Connection, Producer
from kombu.exceptions import EncodeError

from qcompat import conf, serializers, signals
from qcompat.callables import dotted_path
from qcompat.envelope import HEADER, TaskInfo
from qcompat.exceptions import ArgumentsNotSerializable, InvalidOption
from qcompat.worker import execute

#: Keywords ``async_task`` consumes as options instead of passing them to the function.
OPTION_KEYS = frozenset(
    {"hook", "group", "timeout", "sync", "save", "task_name", "broker", "redis"}
)


@dataclasses.dataclass(frozen=True)
class Options:
    hook: str | None
    group: str | None
    timeout: float | None
    sync: bool
    save: bool
    task_name: str | None
    connection: Connection | Producer | None


def async_task(func: str | Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    """Queue ``func(*args, **kwargs)`` on a Celery worker; return the task's id.

    Options (``hook``, ``group``, ``timeout``, ``sync``, ``save``, ``task_name``,
    ``broker``/``redis``) are taken out of ``kwargs``; those named in a
    ``q_options`` dict are read from it instead, which leaves same-named keyword
    arguments to the function.
    """
    options = _take_options(kwargs)
    task_id = uuid.uuid4().hex
    info = TaskInfo(
        func=dotted_path(func),
        name=options.task_name or humanize(task_id),
        started=timezone.now(),
        group=options.group,
        hook=options.hook,
        save=options.save,
    )
    signals.pre_enqueue.send(
        sender=signals.SENDER, task=info.as_django_q(task_id, args, kwargs, timeout=options.timeout)
    )
    if options.sync:
        _run_in_process(task_id, info, args, kwargs)
    else:
        _send(task_id, info, args, kwargs, options)
    return task_id


def _send(
    task_id: str, info: TaskInfo, args: tuple[Any, ...], kwargs: dict[str, Any], options: Options
) -> None:
    connection = options.connection
    # Typed loosely: Celery forwards these to send_task, which its stubs do not describe.
    publish: dict[str, Any] = {
        "task_id": task_id,
        "shadow": info.func,
        "route_name": info.func,
        "serializer": serializers.SERIALIZER_NAME,
        "headers": {HEADER: info.to_header()},
        "time_limit": options.timeout,
        "producer": connection if isinstance(connection, Producer) else None,
        "connection": connection if isinstance(connection, Connection) else None,
    }
    try:
        execute.apply_async(args, kwargs, **publish)
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
    execute.apply(args, kwargs, task_id=task_id, headers=headers, throw=False)


def _not_serializable(func: str, error: Exception) -> ArgumentsNotSerializable:
    return ArgumentsNotSerializable(
        f"The arguments of {func} cannot be pickled ({error}); nothing was enqueued."
    )


def _is_positive_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and float(value) > 0


def _take_options(kwargs: dict[str, Any]) -> Options:
    q_options = kwargs.pop("q_options", None) or {}
    if not isinstance(q_options, dict):
        raise InvalidOption(f"q_options must be a dict, not {type(q_options).__name__}.")
    unknown = sorted(set(q_options) - OPTION_KEYS)
    if unknown:
        raise InvalidOption(
            f"Unknown q_options key(s): {', '.join(unknown)}. "
            f"Known keys are {', '.join(sorted(OPTION_KEYS))}."
        )
    raw = {key: kwargs.pop(key) for key in OPTION_KEYS - set(q_options) if key in kwargs}
    raw.update(q_options)

    hook = raw.get("hook")
    group = raw.get("group")
    task_name = raw.get("task_name")
    timeout = raw.get("timeout", conf.default_timeout())
    sync = raw.get("sync")
    connection = raw.get("broker") or raw.get("redis")
    for option, value in (("group", group), ("task_name", task_name)):
        if value is not None and (not isinstance(value, str) or not value or len(value) > 100):
            raise InvalidOption(f"{option} must be a non-empty string of at most 100 characters.")
    if timeout is not None and not _is_positive_number(timeout):
        raise InvalidOption(f"timeout must be a positive number of seconds, not {timeout!r}.")
    for option in ("sync", "save"):
        if raw.get(option) is not None and not isinstance(raw[option], bool):
            raise InvalidOption(f"{option} must be True or False, not {raw[option]!r}.")
    if connection is not None and not isinstance(connection, Connection | Producer):
        raise InvalidOption(
            "broker (or redis) must be a kombu Connection or Producer to publish through, "
            f"not {type(connection).__name__}; for example app.connection_for_write()."
        )
    return Options(
        hook=None if hook is None else dotted_path(hook, role="hook"),
        group=group,
        timeout=None if timeout is None else float(timeout),
        sync=conf.sync_by_default() if sync is None else sync,
        save=raw.get("save", True) is not False,
        task_name=task_name,
        connection=connection,
    )
