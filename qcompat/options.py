"""The options ``async_task`` takes out of its keyword arguments, checked at the call site."""

from __future__ import annotations

import dataclasses
import datetime
import numbers
from typing import Any

from kombu import Connection, Producer

from qcompat import conf
from qcompat.callables import dotted_path
from qcompat.exceptions import InvalidOption

#: Django Q's options: consumed from the keyword arguments unless ``q_options`` names them.
DJANGO_Q_KEYS = frozenset(
    {
        "hook",
        "group",
        "timeout",
        "sync",
        "save",
        "task_name",
        "broker",
        "redis",
        "cluster",
        "ack_failure",
        "on_commit",
    }
)
#: Celery's own publishing options, reachable only through ``q_options`` so that
#: functions keep keyword arguments with these common names.
CELERY_KEYS = frozenset(
    {"queue", "priority", "countdown", "eta", "expires", "retry", "retry_policy"}
)
#: Django Q options qcompat refuses, each with the reason given to the caller.
UNSUPPORTED = {
    "cached": "qcompat stores every result in the database; Django Q's cached option has no "
    "counterpart. Remove it and read results with result() or fetch().",
}


@dataclasses.dataclass(frozen=True)
class Options:
    hook: str | None = None
    group: str | None = None
    timeout: float | None = None
    sync: bool = False
    save: bool | None = None
    task_name: str | None = None
    on_commit: bool = False
    connection: Connection | Producer | None = None
    #: Passed on to Celery's ``apply_async``.
    publish: dict[str, Any] = dataclasses.field(default_factory=dict)


def take_options(kwargs: dict[str, Any]) -> Options:
    """Remove the options from a call's ``kwargs``, check them and return them."""
    q_options = kwargs.pop("q_options", None) or {}
    if not isinstance(q_options, dict):
        raise InvalidOption(f"q_options must be a dict, not {type(q_options).__name__}.")
    for key in [*q_options, *kwargs]:
        if key in UNSUPPORTED:
            raise InvalidOption(UNSUPPORTED[key])
    unknown = sorted(set(q_options) - DJANGO_Q_KEYS - CELERY_KEYS)
    if unknown:
        known = ", ".join(sorted(DJANGO_Q_KEYS | CELERY_KEYS))
        raise InvalidOption(f"Unknown q_options key(s): {', '.join(unknown)}. Known keys: {known}.")
    raw = {key: kwargs.pop(key) for key in DJANGO_Q_KEYS - set(q_options) if key in kwargs}
    raw.update(q_options)
    return parse(raw)


def parse(raw: dict[str, Any]) -> Options:
    for option in ("group", "task_name", "cluster", "queue"):
        value = raw.get(option)
        if value is not None and (not isinstance(value, str) or not value or len(value) > 100):
            raise InvalidOption(f"{option} must be a non-empty string of at most 100 characters.")
    for option in ("sync", "save", "ack_failure", "on_commit", "retry"):
        value = raw.get(option)
        if value is not None and not isinstance(value, bool):
            raise InvalidOption(f"{option} must be True or False, not {value!r}.")
    timeout = raw.get("timeout", conf.default_timeout())
    if timeout is not None and not _is_positive_number(timeout):
        raise InvalidOption(f"timeout must be a positive number of seconds, not {timeout!r}.")
    connection = raw.get("broker") or raw.get("redis")
    if connection is not None and not isinstance(connection, Connection | Producer):
        raise InvalidOption(
            "broker (or redis) must be a kombu Connection or Producer to publish through, "
            f"not {type(connection).__name__}; for example app.connection_for_write()."
        )
    hook = raw.get("hook")
    sync = raw.get("sync")
    return Options(
        hook=None if hook is None else dotted_path(hook, role="hook"),
        group=raw.get("group"),
        timeout=None if timeout is None else float(timeout),
        sync=conf.sync_by_default() if sync is None else sync,
        save=raw.get("save"),
        task_name=raw.get("task_name"),
        on_commit=bool(raw.get("on_commit")),
        connection=connection,
        publish=_celery_options(raw),
    )


def _celery_options(raw: dict[str, Any]) -> dict[str, Any]:
    publish = {key: raw[key] for key in CELERY_KEYS if raw.get(key) is not None}
    if raw.get("cluster") is not None:
        publish.setdefault("queue", raw["cluster"])
    priority = publish.get("priority")
    if priority is not None and (
        isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 255
    ):
        raise InvalidOption(f"priority must be a whole number from 0 to 255, not {priority!r}.")
    countdown = publish.get("countdown")
    if countdown is not None and not (_is_positive_number(countdown) or countdown == 0):
        raise InvalidOption(f"countdown must be a number of seconds, not {countdown!r}.")
    eta = publish.get("eta")
    if eta is not None and not (isinstance(eta, datetime.datetime) and eta.tzinfo is not None):
        raise InvalidOption(f"eta must be a timezone-aware datetime, not {eta!r}.")
    expires = publish.get("expires")
    if expires is not None and not (
        _is_positive_number(expires)
        or (isinstance(expires, datetime.datetime) and expires.tzinfo is not None)
    ):
        raise InvalidOption(
            f"expires must be seconds or a timezone-aware datetime, not {expires!r}."
        )
    if not isinstance(publish.get("retry_policy", {}), dict):
        raise InvalidOption("retry_policy must be a dict of Celery's retry policy keys.")
    return publish


def _is_positive_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and float(value) > 0
