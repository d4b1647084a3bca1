"""Settings qcompat reads, always at call time so that tests can override them.

qcompat reads Django Q's ``Q_CLUSTER`` dictionary, so that a migrating project
keeps its settings file as it is. Its keys map to Celery as follows:

- ``workers`` -> ``worker_concurrency``; every worker.
- ``recycle`` -> ``worker_max_tasks_per_child``; every worker.
- ``max_rss`` -> ``worker_max_memory_per_child``, in KB as in Django Q; every worker.
  For these three, 0 keeps Celery's default, which is Django Q's: a process per
  CPU, never recycled.
- ``retry`` -> ``task_acks_late = True`` and
  ``broker_transport_options["visibility_timeout"] = retry``; every worker.
- ``ack_failures`` -> ``task_acks_on_failure_or_timeout``; every worker.
- ``cluster_name``, else ``name`` -> ``task_default_queue``; every process, since
  the queue a task is sent to and the queue a worker consumes must agree.
- ``timeout`` -> the ``time_limit`` of each task ``async_task`` sends.
- ``sync`` -> ``async_task``'s default for ``sync``.
- ``save_limit`` -> how many successful tasks qcompat keeps.
- ``label`` -> the admin's name for qcompat's app.
- ``log_level`` -> ``celery worker --loglevel``; under ``qcluster`` only, since
  Celery has no setting for it.

"Every worker" means ``python manage.py qcluster`` and ``celery -A proj worker``
alike: :mod:`qcompat.cluster` applies these settings to the Celery apps.
"""

from __future__ import annotations

import numbers
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

#: ``Q_CLUSTER`` keys that qcompat maps to Celery or reads itself.
MAPPED_KEYS = frozenset(
    {
        "ack_failures",
        "cluster_name",
        "label",
        "log_level",
        "max_rss",
        "name",
        "recycle",
        "retry",
        "save_limit",
        "sync",
        "timeout",
        "workers",
    }
)

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "FATAL")


def q_cluster() -> dict[str, Any]:
    value = getattr(settings, "Q_CLUSTER", None) or {}
    if not isinstance(value, dict):
        raise ImproperlyConfigured("The Q_CLUSTER setting must be a dictionary.")
    return value


def default_timeout() -> float | None:
    """Seconds a task may run before the worker kills it; None means no limit."""
    timeout = q_cluster().get("timeout")
    return None if timeout is None else float(timeout)


def sync_by_default() -> bool:
    """Whether ``async_task`` runs tasks in the calling process unless told otherwise."""
    return bool(q_cluster().get("sync", False))


def save_limit() -> int:
    """How many successful tasks to keep: 0 keeps all, -1 keeps none; failures are all kept.

    Django Q defaults to 250; qcompat keeps everything unless the key is set.
    """
    return int(q_cluster().get("save_limit", 0))


def _integer(key: str, minimum: int) -> int | None:
    value = q_cluster().get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ImproperlyConfigured(
            f"Q_CLUSTER[{key!r}] must be a whole number of at least {minimum}, not {value!r}."
        )
    return value


def _seconds(key: str) -> float | None:
    value = q_cluster().get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value <= 0:
        raise ImproperlyConfigured(
            f"Q_CLUSTER[{key!r}] must be a positive number of seconds, not {value!r}."
        )
    # An int stays an int, as a project would have written it in Celery's settings.
    return cast(float, value)


def _boolean(key: str) -> bool | None:
    value = q_cluster().get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ImproperlyConfigured(f"Q_CLUSTER[{key!r}] must be True or False, not {value!r}.")
    return value


def _text(key: str) -> str | None:
    value = q_cluster().get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ImproperlyConfigured(f"Q_CLUSTER[{key!r}] must be a non-empty string, not {value!r}.")
    return value


def queue_name() -> str | None:
    """The queue tasks go to and workers consume: Django Q's ``cluster_name``, else ``name``.

    Django Q uses them as the key of its broker list; None leaves Celery's default queue.
    """
    return _text("cluster_name") or _text("name")


def admin_label() -> str | None:
    """What the admin calls qcompat's app, from Django Q's ``label``; None keeps "Tasks"."""
    return _text("label")


def log_level() -> str:
    """The worker's log level under ``qcluster``; INFO, as in Django Q, unless set."""
    level = (_text("log_level") or "INFO").upper()
    if level not in _LOG_LEVELS:
        raise ImproperlyConfigured(
            f"Q_CLUSTER['log_level'] must be one of {', '.join(_LOG_LEVELS)}, not {level!r}."
        )
    return level


def celery_settings() -> dict[str, Any]:
    """The Celery settings ``Q_CLUSTER`` asks for; keys it does not set are left out.

    Raises ImproperlyConfigured for a value Django Q itself would not accept.
    """
    q = q_cluster()
    mapped: dict[str, Any] = {}
    # 0 means Django Q's default for each: as many workers as CPUs, no recycling, no limit.
    workers = _integer("workers", 0)
    if workers:
        mapped["worker_concurrency"] = workers
    recycle = _integer("recycle", 0)
    if recycle:
        mapped["worker_max_tasks_per_child"] = recycle
    max_rss = _integer("max_rss", 0)
    if max_rss:
        mapped["worker_max_memory_per_child"] = max_rss
    retry = _seconds("retry")
    if retry is not None:
        # Django Q's retry is the redelivery of a task whose worker never acknowledged it:
        # Celery acknowledges after the task instead of before, and Redis and SQS hand an
        # unacknowledged message out again once this many seconds have passed.
        mapped["task_acks_late"] = True
        mapped["broker_transport_options"] = {"visibility_timeout": retry}
    ack_failures = _boolean("ack_failures")
    if ack_failures is not None:
        mapped["task_acks_on_failure_or_timeout"] = ack_failures
    queue = queue_name()
    if queue is not None:
        mapped["task_default_queue"] = queue
    # Checked here too, so that one call validates every key qcompat reads.
    _seconds("timeout")
    _boolean("sync")
    _integer("save_limit", -1)
    _text("label")
    if "log_level" in q:
        log_level()
    return mapped


def worker_arguments() -> list[str]:
    """``celery worker`` options that have no app setting; only ``qcluster`` passes them."""
    return ["--loglevel", log_level()]
