"""Settings qcompat reads, always at call time so that tests can override them.

qcompat reads Django Q's ``Q_CLUSTER`` dictionary, so that a migrating project
keeps its settings file as it is.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings


def q_cluster() -> dict[str, Any]:
    value = getattr(settings, "Q_CLUSTER", None) or {}
    if not isinstance(value, dict):
        from django.core.exceptions import ImproperlyConfigured

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
