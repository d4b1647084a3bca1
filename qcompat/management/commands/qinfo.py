"""``manage.py qinfo``: Django Q's overview of clusters, queues and results, from Celery.

A Django Q cluster is a Celery worker here (one node, shown by its hostname),
and Django Q's workers are the processes of its pool.
"""

from __future__ import annotations

import datetime
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from celery import Celery
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Avg, DurationField, ExpressionWrapper, F
from django.utils import timezone

from qcompat import conf
from qcompat.management.celery_app import add_app_argument, celery_app
from qcompat.models import Failure, Success
from qcompat.queues import queue_size

_COLUMN = 12
_NAME_COLUMN = 40


class Command(BaseCommand):
    help = (
        "Shows the running Celery workers (Django Q's clusters) and their processes, how many "
        "tasks wait in each queue, and how many tasks succeeded and failed, as Django Q's "
        "qinfo did."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_app_argument(parser)
        parser.add_argument(
            "--timeout",
            type=float,
            default=1.0,
            help="Seconds to wait for the workers' replies (default: %(default)s).",
        )
        parser.add_argument(
            "--ids",
            action="store_true",
            help="Print each worker's hostname and process ids, and nothing else.",
        )
        parser.add_argument(
            "--config",
            action="store_true",
            help="Print how Q_CLUSTER maps to Celery's settings, and nothing else.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        app = celery_app(options["app"])
        if options["config"]:
            self._config(app)
            return
        replies = ask_workers(app, options["timeout"])
        if options["ids"]:
            for node, stats in sorted(replies["stats"].items()):
                pool = stats.get("pool", {}).get("processes", [])
                processes = ", ".join(str(pid) for pid in pool) or "-"
                self.stdout.write(f"{node}: pid {stats.get('pid')}, processes {processes}")
            return
        self._overview(app, replies)

    def _overview(self, app: Celery, replies: dict[str, dict[str, Any]]) -> None:
        stats, active, queues = replies["stats"], replies["active"], replies["active_queues"]
        workers = sum(_processes(node_stats) for node_stats in stats.values())
        running = sum(len(tasks) for tasks in active.values())
        names = sorted(
            {queue["name"] for node_queues in queues.values() for queue in node_queues}
            | {app.conf.task_default_queue}
        )
        with app.connection_for_read() as connection:
            waiting = {name: queue_size(broker=connection, cluster=name) for name in names}
            broker = connection.as_uri()
        per_day = Success.objects.filter(stopped__gte=timezone.now() - datetime.timedelta(days=1))
        rate, unit = _rate(per_day.count())
        average = per_day.aggregate(
            taken=Avg(ExpressionWrapper(F("stopped") - F("started"), output_field=DurationField()))
        )["taken"]

        self.stdout.write(f"-- qcompat {_version()} on {broker} --")
        self._row("Clusters", len(stats), "Workers", workers, "Running", running)
        self._row(
            "Queued",
            sum(waiting.values()),
            "Successes",
            Success.objects.count(),
            "Failures",
            Failure.objects.count(),
        )
        seconds = average.total_seconds() if average else 0.0
        self._row(f"Tasks/{unit}", f"{rate:.2f}", "Avg time", f"{seconds:.4f}")
        self.stdout.write("")
        self._row("Cluster", "Pid", "Workers", "Running", "Done", "Queues", first=_NAME_COLUMN)
        for node, node_stats in sorted(stats.items()):
            done = sum((node_stats.get("total") or {}).values())
            consumed = ", ".join(queue["name"] for queue in queues.get(node, []))
            self._row(
                node,
                node_stats.get("pid", "-"),
                _processes(node_stats),
                len(active.get(node, [])),
                done,
                consumed or "-",
                first=_NAME_COLUMN,
            )
        self.stdout.write("")
        self._row("Queue", "Waiting", first=_NAME_COLUMN)
        for name in names:
            self._row(name, waiting[name], first=_NAME_COLUMN)

    def _row(self, first_cell: Any, *cells: Any, first: int = _COLUMN) -> None:
        """Cells in columns; a cell longer than its column still gets one space after it."""
        text = f"{first_cell!s:<{first - 1}} " + "".join(
            f"{cell!s:<{_COLUMN - 1}} " for cell in cells
        )
        self.stdout.write(text.rstrip())

    def _config(self, app: Celery) -> None:
        try:
            mapped = conf.celery_settings()
            arguments = conf.worker_arguments()
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from error
        for key, value in sorted(conf.q_cluster().items()):
            ignored = "" if key in conf.MAPPED_KEYS else "  (ignored: see `manage.py check`)"
            self.stdout.write(f"Q_CLUSTER[{key!r}] = {value!r}{ignored}")
        self.stdout.write("")
        self.stdout.write(f"Celery settings from Q_CLUSTER, and what app {app.main!r} has:")
        for setting, value in sorted(mapped.items()):
            self.stdout.write(f"  {setting} = {value!r} (app: {app.conf.get(setting)!r})")
        self.stdout.write(f"qcluster adds: {' '.join(arguments)}")


def ask_workers(app: Celery, timeout: float) -> dict[str, dict[str, Any]]:
    """The replies of every worker to ``stats``, ``active`` and ``active_queues``."""

    def ask(question: str) -> dict[str, Any]:
        return getattr(app.control.inspect(timeout=timeout), question)() or {}

    questions = ("stats", "active", "active_queues")
    # Each question waits out the whole timeout for replies; asking at once saves two.
    with ThreadPoolExecutor(max_workers=len(questions)) as pool:
        answers = pool.map(ask, questions)
        return dict(zip(questions, answers, strict=True))


def _processes(stats: dict[str, Any]) -> int:
    pool = stats.get("pool") or {}
    return int(pool.get("max-concurrency") or len(pool.get("processes") or ()))


def _rate(per_day: int) -> tuple[float, str]:
    """Django Q's rate: per second, minute or hour when there are enough, else per day."""
    for unit, seconds in (("second", 1), ("minute", 60), ("hour", 3600)):
        if per_day > 24 * 3600 / seconds:
            return per_day * seconds / (24 * 3600), unit
    return float(per_day), "day"


def _version() -> str:
    try:
        return version("qcompat")
    except PackageNotFoundError:
        return "(development)"
