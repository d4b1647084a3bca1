"""Putting ``Q_CLUSTER``'s Celery settings on the project's Celery apps.

:func:`connect` gives every Celery app in the process the settings
:func:`qcompat.conf.celery_settings` maps from ``Q_CLUSTER``, before the app's
tasks are bound and again just before a worker reads its settings, so that
``celery -A proj worker`` and ``manage.py qcluster`` run alike. A setting the
project gives Celery itself (``CELERY_WORKER_CONCURRENCY``, say) wins over its
``Q_CLUSTER`` key, and the system check ``qcompat.W004`` says so.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from celery import Celery

from qcompat import conf

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

# The Celery settings each app got from Q_CLUSTER, so that they are not taken for the
# project's own Celery settings the next time.
_applied: weakref.WeakKeyDictionary[Celery, set[str]] = weakref.WeakKeyDictionary()


def apply_to_app(app: Celery) -> dict[str, Any]:
    """Give ``app`` the Celery settings of ``Q_CLUSTER`` that the project did not set itself.

    Returns the settings it set. Safe to call again: a setting applied earlier is
    updated, and one the project set is never touched.
    """
    wanted = conf.celery_settings()
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
    for key, value in conf.celery_settings().items():
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
            if key == "task_default_queue" and "cluster_name" in conf.q_cluster():
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
