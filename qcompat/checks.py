"""System checks for a project moving from Django Q: what of ``Q_CLUSTER`` Celery cannot do.

- ``qcompat.E001``: ``Q_CLUSTER`` or one of its values is not what Django Q accepts.
- ``qcompat.W001``: a Django Q key with no Celery equivalent; the hint says what to do.
- ``qcompat.W002``: a key Django Q does not know either (a typo, most likely).
- ``qcompat.W003``: ``retry`` is not longer than ``timeout``, so long tasks run twice.
- ``qcompat.W004``: a ``Q_CLUSTER`` key is overridden by the project's own Celery setting.

Each warning can be silenced as usual, with ``SILENCED_SYSTEM_CHECKS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from qcompat import cluster, conf

_BROKER = (
    "Celery connects to the broker in CELERY_BROKER_URL; set it to the same server, for "
    "example 'redis://localhost:6379/0', and remove this key."
)
_NOT_MAINTAINED = (
    "Celery has no transport for it; move to Redis or RabbitMQ, set CELERY_BROKER_URL, "
    "and remove this key."
)
_PREFETCH = (
    "A Celery worker reserves CELERY_WORKER_PREFETCH_MULTIPLIER messages per process; set "
    "that instead."
)
_KNOWN = ", ".join(sorted(conf.MAPPED_KEYS))
_RESULTS = "qcompat stores every result in its Task table, never in a cache; remove this key."

#: Django Q keys that Celery has no equivalent for, and what to do instead.
HINTS: dict[str, str] = {
    "daemonize_workers": (
        "Celery's prefork processes cannot start child processes of their own; if tasks do, "
        "run the worker with --pool threads or --pool solo."
    ),
    "guard_cycle": "A Celery worker has no guard loop to tune; remove this key.",
    "cpu_affinity": (
        "Celery does not pin processes to CPUs; pin the worker with taskset, or systemd's "
        "CPUAffinity=."
    ),
    "compress": "Set CELERY_TASK_COMPRESSION = 'zlib' to compress task messages.",
    "bulk": _PREFETCH,
    "queue_limit": _PREFETCH,
    "cached": _RESULTS,
    "cache": _RESULTS,
    "redis": _BROKER,
    "django_redis": _BROKER,
    "orm": (
        "Celery cannot use the Django ORM as a broker; set CELERY_BROKER_URL to Redis or "
        "RabbitMQ (or to your database through kombu's SQLAlchemy transport, "
        "'sqla+postgresql://...'), and remove this key."
    ),
    "sqs": (
        "Set CELERY_BROKER_URL = 'sqs://' and the region and queue options in "
        "CELERY_BROKER_TRANSPORT_OPTIONS, and remove this key."
    ),
    "iron_mq": _NOT_MAINTAINED,
    "disque_nodes": _NOT_MAINTAINED,
    "disque_auth": _NOT_MAINTAINED,
    "disque_fastack": _NOT_MAINTAINED,
    "has_replica": _NOT_MAINTAINED,
    "mongo": "Set CELERY_BROKER_URL = 'mongodb://...' (kombu's MongoDB transport), or move "
    "to Redis or RabbitMQ, and remove this key.",
    "mongo_db": "The database goes in the path of CELERY_BROKER_URL; remove this key.",
    "broker_class": (
        "Celery picks its transport from CELERY_BROKER_URL; a Django Q broker class cannot be "
        "used. Remove this key."
    ),
    "poll": (
        "kombu polls the transports that need it; tune CELERY_BROKER_TRANSPORT_OPTIONS"
        "['polling_interval'] instead."
    ),
    "scheduler": (
        "Schedules run in one `celery beat` process, never in the workers; start exactly one, "
        "and remove this key."
    ),
    "catch_up": (
        "celery beat runs an overdue schedule once, not once per missed run; remove this key."
    ),
    "error_reporter": (
        "Report errors from Celery's task_failure signal, or with your error tracker's Celery "
        "integration; remove this key."
    ),
    "max_attempts": (
        "Celery redelivers an unacknowledged task without counting; bound retries with the "
        "task options autoretry_for and max_retries instead."
    ),
    "save_limit_per": "qcompat applies save_limit to all successful tasks together.",
    "time_zone": "Set CELERY_TIMEZONE; Celery uses TIME_ZONE while it is unset.",
    "testing": "It only changes Django Q's own test behaviour; remove this key.",
    "ALT_CLUSTERS": (
        "Start one worker per queue, with `python manage.py qcluster --name QUEUE` or "
        "`celery worker --queues QUEUE`, and give each its options on the command line."
    ),
}


def check_q_cluster(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Every ``Q_CLUSTER`` key qcompat cannot honour, with what to do instead."""
    try:
        q_cluster = conf.q_cluster()
        conf.celery_settings()
    except ImproperlyConfigured as error:
        return [checks.Error(str(error), id="qcompat.E001")]
    messages: list[checks.CheckMessage] = []
    for key in q_cluster:
        if key in conf.MAPPED_KEYS:
            continue
        if key in HINTS:
            messages.append(
                checks.Warning(
                    f"Q_CLUSTER[{key!r}] has no Celery equivalent; qcompat ignores it.",
                    hint=HINTS[key],
                    id="qcompat.W001",
                )
            )
        else:
            messages.append(
                checks.Warning(
                    f"Q_CLUSTER[{key!r}] is not a Django Q setting; qcompat ignores it.",
                    hint=f"Check its spelling; qcompat reads {_KNOWN}.",
                    id="qcompat.W002",
                )
            )
    messages.extend(_retry_and_timeout(q_cluster))
    messages.extend(_overridden())
    return messages


def _retry_and_timeout(q_cluster: dict[str, Any]) -> list[checks.CheckMessage]:
    retry, timeout = q_cluster.get("retry"), q_cluster.get("timeout")
    if retry is None or (timeout is not None and timeout < retry):
        return []
    limit = "has no timeout" if timeout is None else f"may run for {timeout} s"
    return [
        checks.Warning(
            f"Q_CLUSTER['retry'] is {retry} s but a task {limit}: Redis and SQS deliver a "
            f"task still running after {retry} s again, to a second worker.",
            hint="Set retry larger than timeout, as Django Q asks too.",
            id="qcompat.W003",
        )
    ]


def _overridden() -> list[checks.CheckMessage]:
    from qcompat.management.celery_app import project_app

    app = project_app()
    if app is None:
        return []
    return [
        checks.Warning(
            f"Q_CLUSTER[{key!r}] asks for {setting} = {wanted!r}, but the Celery app "
            f"{app.main!r} has {setting} = {actual!r}, which wins.",
            hint="Remove one of the two; keep the Celery setting to move away from Q_CLUSTER.",
            id="qcompat.W004",
        )
        for key, setting, wanted, actual in cluster.overridden(app)
    ]
