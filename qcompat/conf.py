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
alike: :func:`connect` applies the Celery settings to each Celery app when it
is finalized and to each worker before it starts. A setting the project gives
Celery itself (``CELERY_WORKER_CONCURRENCY``, say) wins over its ``Q_CLUSTER``
key, and the system check ``qcompat.W004`` says so.
"""

from __future__ import annotations

import logging
import numbers
import weakref
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from celery import Celery

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

#: Which ``Q_CLUSTER`` key each Celery setting comes from.
SOURCE_KEYS = {
    "worker_concurrency": "workers",
    "worker_max_tasks_per_child": "recycle",
    "worker_max_memory_per_child": "max_rss",
    "task_acks_late": "retry",
    "broker_transport_options": "retry",
    "task_acks_on_failure_or_timeout": "ack_failures",
    "task_default_queue": "name",
}

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "FATAL")

# The Celery settings each app got from Q_CLUSTER, so that they are not taken for the
# project's own Celery settings the next time.
_applied: weakref.WeakKeyDictionary[Celery, set[str]] = weakref.WeakKeyDictionary()


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


def apply_to_app(app: Celery) -> dict[str, Any]:
    """Give ``app`` the Celery settings of ``Q_CLUSTER`` that the project did not set itself.

    Returns the settings it set. Safe to call again: a setting applied earlier is
    updated, and one the project set is never touched.
    """
    wanted = celery_settings()
    if not wanted:
        return {}
    ours = _applied.setdefault(app, set())
    applied: dict[str, Any] = {}
    for key, value in wanted.items():
        if key == "broker_transport_options":
            options = dict(app.conf.broker_transport_options or {})
            if "visibility_timeout" in options and key not in ours:
                continue
            value = {**options, **value}
        elif app.conf.value_set_for(key) and key not in ours:
            continue
        app.conf[key] = value
        ours.add(key)
        applied[key] = value
    if applied:
        logging.getLogger(__name__).debug("Applied Q_CLUSTER to Celery app %s: %s", app, applied)
    return applied


def overridden(app: Celery) -> list[tuple[str, str, Any, Any]]:
    """Settings where the project's own Celery value wins over ``Q_CLUSTER``.

    Each item is ``(q_cluster_key, celery_setting, q_cluster_value, celery_value)``.
    """
    ours = _applied.get(app, set())
    found = []
    for key, value in celery_settings().items():
        if key in ours:
            continue
        if key == "broker_transport_options":
            options = app.conf.broker_transport_options or {}
            current = options.get("visibility_timeout")
            wanted = value["visibility_timeout"]
            if current is not None and current != wanted:
                setting = "broker_transport_options['visibility_timeout']"
                found.append(("retry", setting, wanted, current))
            continue
        if app.conf.value_set_for(key) and app.conf[key] != value:
            source = SOURCE_KEYS[key]
            if key == "task_default_queue" and "cluster_name" in q_cluster():
                source = "cluster_name"
            found.append((source, key, value, app.conf[key]))
    return found


def _on_worker_init(sender: Any = None, instance: Any = None, **kwargs: Any) -> None:
    apply_to_app(instance.app)


def _on_configure(sender: Celery, **kwargs: Any) -> None:
    apply_to_app(sender)


def connect() -> None:
    """Apply ``Q_CLUSTER`` to the process's Celery apps, before their tasks are bound.

    A task takes ``task_acks_late`` and the like from its app's settings once, when the
    app is finalized, so the settings must be there first: an app whose settings are
    already loaded gets them now, any other as soon as its settings are loaded. An app
    created later gets them when it is finalized, though its tasks may be bound first;
    a project's app (``proj/celery.py``) exists long before, since Django is set up
    after it in a worker and the settings import it elsewhere. A worker's own settings
    are applied again just before it reads them.
    """
    from celery._state import _get_active_apps, connect_on_app_finalize  # type: ignore[attr-defined]
    from celery.signals import celeryd_init

    for app in _get_active_apps():
        app.on_after_configure.connect(_on_configure, weak=False, dispatch_uid=__name__)
        if app.configured:
            apply_to_app(app)
    connect_on_app_finalize(apply_to_app)
    celeryd_init.connect(_on_worker_init, weak=False, dispatch_uid=__name__)
