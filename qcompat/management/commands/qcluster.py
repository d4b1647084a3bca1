"""``manage.py qcluster``: Django Q's command, starting a Celery worker instead of a cluster."""

from __future__ import annotations

import argparse
import os
from typing import Any

import click
from celery import Celery
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from qcompat import cluster, conf
from qcompat.management.celery_app import add_app_argument, celery_app


class Command(BaseCommand):
    help = (
        "Starts a Celery worker for the project's Celery app, with the Q_CLUSTER settings "
        "mapped to Celery's, where Django Q started a cluster. Options after -- go to "
        "`celery worker` as they are, for example `qcluster -- --hostname web1@%h`. "
        "SIGTERM or Ctrl-C stops it once its running tasks have finished."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_app_argument(parser)
        parser.add_argument(
            "-n",
            "--name",
            default=os.environ.get("Q_CLUSTER_NAME"),
            help="Consume this queue instead of the default one, as Django Q's --name (or "
            "Q_CLUSTER_NAME) picked the cluster and its queue.",
        )
        parser.add_argument(
            "worker_options",
            nargs=argparse.REMAINDER,
            metavar="-- CELERY WORKER OPTIONS",
            help="Given to `celery worker` after the options Q_CLUSTER maps to, so they win.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        app = celery_app(options["app"])
        try:
            cluster.apply_to_app(app)
            argv = ["worker", *conf.worker_arguments()]
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from error
        if options["name"]:
            argv += ["--queues", options["name"]]
        extra = list(options["worker_options"] or ())
        argv += extra[1:] if extra[:1] == ["--"] else extra
        status = run_worker(app, argv)
        if status:
            raise CommandError(f"The Celery worker exited with status {status}.", returncode=status)


def run_worker(app: Celery, argv: list[str]) -> int:
    """Run ``celery worker`` in this process for ``app``; return its exit status.

    This is what ``Celery.worker_main()`` does, except that it keeps the exit status,
    which ``worker_main()`` drops. Running in this process, rather than starting
    ``celery -A ...``, needs no import path for the app, and leaves SIGTERM to the
    worker's own handler: a warm shutdown that lets running tasks finish.
    """
    from celery.bin.celery import celery as celery_command

    app_option = celery_command.params[0]
    app_option.default = app
    try:
        status = celery_command.main(args=argv, standalone_mode=False)
    except click.exceptions.Exit as stop:
        status = stop.exit_code
    except click.ClickException as error:
        raise CommandError(
            f"celery worker refused its options: {error.format_message()}"
        ) from error
    finally:
        app_option.default = None
    return int(status or 0)
