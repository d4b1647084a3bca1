"""Throughput of qcompat's ``async_task`` against a raw Celery task, in one run.

Both paths run N no-op tasks through a real ``celery worker`` (prefork, two
processes) on the same Redis broker and the same database:

- qcompat: ``async_task("bench.jobs.noop")``, stored in qcompat's ``Task`` table;
- raw Celery: ``noop_task.apply_async()``, stored by django-celery-results'
  ``django-db`` result backend in its ``TaskResult`` table.

For each path it reports the enqueue rate (the enqueue loop alone) and the
end-to-end throughput (from the first enqueue until the N-th row is in the
database, found by polling row counts). Every measurement gets a fresh worker,
an empty queue and empty tables; the paths take turns going first, and the
median over the rounds is reported.

The benchmark uses its own database (``qcompat_bench`` on PostgreSQL, created
and migrated if needed, or a SQLite file in the temporary directory), Redis
database 13 and a queue of its own. Run it from the repository root::

    python -m bench.throughput
    python -m bench.throughput --db sqlite --n 1000 --rounds 5 --json
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: Seconds between two row counts while the worker drains the queue.
POLL_SECONDS = 0.01
#: A measurement fails when no new row shows up for this long.
STALL_SECONDS = 60
#: Tasks each measurement sends and waits for before its clock starts.
PRIMING_TASKS = 4
DATABASE_NAMES = {"postgres": "PostgreSQL", "sqlite": "SQLite"}
LABELS = {"qcompat": "qcompat async_task", "raw": "raw Celery + django-db"}


class BenchmarkError(Exception):
    """The benchmark could not measure; the message says why."""


@dataclasses.dataclass(frozen=True)
class Contender:
    """One way of running tasks: how to send one, and how to count the stored ones."""

    label: str
    enqueue: Callable[[], Any]
    stored: Callable[[], int]
    failed: Callable[[], int]


@dataclasses.dataclass(frozen=True)
class Sample:
    enqueue_rate: float
    end_to_end: float


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.throughput",
        description="Compare qcompat's async_task with a raw Celery task on one broker and DB.",
    )
    parser.add_argument("--n", type=int, default=2000, help="tasks per path and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds to take the median of")
    parser.add_argument("--db", choices=sorted(DATABASE_NAMES), default="postgres")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.n < 1 or args.rounds < 1:
        parser.error("--n and --rounds must be at least 1.")
    return args


def progress(message: str) -> None:
    # Progress goes to stderr, so that stdout holds only the results (or the JSON).
    print(message, file=sys.stderr, flush=True)


def set_up_django(db: str) -> None:
    # The worker subprocess inherits these, so both processes open the same database.
    os.environ["QCOMPAT_BENCH_DB"] = db
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    # Run as a file rather than with -m, the script does not have the repository on its path.
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    # Created before anything sends a task, the app is the one shared tasks bind to.
    import bench.celery_app  # noqa: F401


def check_broker() -> None:
    from kombu.exceptions import OperationalError

    from bench.celery_app import app

    with app.connection_for_write() as broker:
        try:
            broker.ensure_connection(max_retries=1)
        except OperationalError as error:
            raise BenchmarkError(f"Redis is not reachable at {broker.as_uri()}: {error}") from error


def prepare_database() -> None:
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "postgresql":
        create_postgres_database(connection.settings_dict)
    call_command("migrate", verbosity=0)


def create_postgres_database(params: dict[str, Any]) -> None:
    import psycopg
    from psycopg import sql

    try:
        maintenance = psycopg.connect(
            host=params["HOST"] or None,
            port=params["PORT"] or None,
            user=params["USER"] or None,
            password=params.get("PASSWORD") or None,
            dbname="postgres",
            autocommit=True,
        )
    except psycopg.OperationalError as error:
        raise BenchmarkError(
            f"PostgreSQL is not reachable at {params['HOST']}:{params['PORT']}: {error}"
        ) from error
    with maintenance:
        name = params["NAME"]
        exists = maintenance.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if exists.fetchone() is None:
            progress(f"Creating the PostgreSQL database {name}.")
            maintenance.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def empty_tables() -> None:
    from django.core.management.color import no_style
    from django.db import connection
    from django_celery_results.models import TaskResult

    from qcompat.models import Task

    tables = [Task._meta.db_table, TaskResult._meta.db_table]
    connection.ops.execute_sql_flush(connection.ops.sql_flush(no_style(), tables))


def purge_queue() -> None:
    from bench.celery_app import app

    app.control.purge()


def delete_queue() -> None:
    from bench.celery_app import app

    with app.connection_for_write() as connection:
        # Declared first, the queue knows its binding, and delete() removes both from Redis.
        queue = app.amqp.queues[app.conf.task_default_queue].bind(connection.default_channel)
        queue.declare()
        queue.delete()


class Worker:
    """A ``celery worker`` subprocess (prefork, 2 processes) leading its own process group."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from bench.celery_app import app

        command = [
            sys.executable, "-m", "celery", "-A", "bench.celery_app",
            "worker", "--pool", "prefork", "--concurrency", "2",
            "--queues", app.conf.task_default_queue,
            "--hostname", f"bench-{os.getpid()}@%h",
            "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        # The log file takes the banner and any startup traceback too. A session of
        # its own keeps Ctrl-C away from the worker: only stop() ends it.
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while " ready." not in self.log():
            if self.process.poll() is not None:
                raise BenchmarkError(f"The celery worker exited early:\n{self.log()}")
            if time.monotonic() > deadline:
                raise BenchmarkError(f"The celery worker was not ready in 60 s:\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None:
            return
        # A second Ctrl-C during the warm shutdown must not leave the worker running;
        # the signals are delivered once it is gone.
        deferred = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, deferred)
        try:
            self._stop_group(self.process)
        finally:
            self.process = None
            signal.pthread_sigmask(signal.SIG_UNBLOCK, deferred)

    @staticmethod
    def _stop_group(process: subprocess.Popen[bytes]) -> None:
        group = process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
            process.wait(timeout=10)
        # Pool processes outlive a main process that died abnormally; they are in its group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)


def clean_up() -> None:
    # Best effort: a failing cleanup must not hide why the benchmark stopped.
    for step in (empty_tables, delete_queue):
        try:
            step()
        except Exception as error:
            progress(f"Cleanup step {step.__name__} failed: {error}")


@contextlib.contextmanager
def running_worker(log_path: Path) -> Iterator[Worker]:
    worker = Worker(log_path)
    try:
        worker.start()
        yield worker
    finally:
        worker.stop()


def contenders() -> dict[str, Contender]:
    from django_celery_results.models import TaskResult

    from bench.tasks import noop_task
    from qcompat import async_task
    from qcompat.models import Task

    return {
        "qcompat": Contender(
            label=LABELS["qcompat"],
            enqueue=lambda: async_task("bench.jobs.noop"),
            stored=Task.objects.count,
            failed=Task.objects.filter(success=False).count,
        ),
        "raw": Contender(
            label=LABELS["raw"],
            enqueue=noop_task.apply_async,
            stored=TaskResult.objects.count,
            failed=TaskResult.objects.exclude(status="SUCCESS").count,
        ),
    }


def wait_for_rows(contender: Contender, n: int, worker: Worker) -> None:
    seen, last_progress = 0, time.monotonic()
    while (stored := contender.stored()) < n:
        if stored > seen:
            seen, last_progress = stored, time.monotonic()
        elif time.monotonic() - last_progress > STALL_SECONDS:
            raise BenchmarkError(
                f"{contender.label}: only {stored} of {n} results were stored, and none "
                f"in the last {STALL_SECONDS} s. Worker log:\n{worker.log()[-4000:]}"
            )
        time.sleep(POLL_SECONDS)


def measure(contender: Contender, n: int, log_path: Path) -> Sample:
    empty_tables()
    purge_queue()
    with running_worker(log_path) as worker:
        # A worker logs "ready" before it consumes, and its pool processes import
        # lazily; the clock starts once a few tasks went through, on a warm worker
        # and with the client's broker connection open.
        for _ in range(PRIMING_TASKS):
            contender.enqueue()
        wait_for_rows(contender, PRIMING_TASKS, worker)
        started = time.perf_counter()
        for _ in range(n):
            contender.enqueue()
        enqueued = time.perf_counter()
        wait_for_rows(contender, PRIMING_TASKS + n, worker)
        finished = time.perf_counter()
    failed = contender.failed()
    if failed:
        log = log_path.read_text()[-4000:]
        raise BenchmarkError(f"{contender.label}: {failed} of {n} tasks failed. Worker log:\n{log}")
    return Sample(enqueue_rate=n / (enqueued - started), end_to_end=n / (finished - started))


def run(n: int, rounds: int, log_dir: Path) -> dict[str, list[Sample]]:
    by_name = contenders()
    samples: dict[str, list[Sample]] = {name: [] for name in by_name}
    for index in range(rounds):
        # Taking turns at going first spreads any drift of the machine over both paths.
        order = list(by_name) if index % 2 == 0 else list(reversed(by_name))
        for name in order:
            sample = measure(by_name[name], n, log_dir / f"round{index + 1}-{name}.log")
            samples[name].append(sample)
            progress(
                f"Round {index + 1} of {rounds}, {by_name[name].label}: "
                f"enqueue {sample.enqueue_rate:.0f}/s, end to end {sample.end_to_end:.0f}/s."
            )
    return samples


def summarize(samples: dict[str, list[Sample]], n: int, rounds: int, db: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for name, runs in samples.items():
        enqueue = [sample.enqueue_rate for sample in runs]
        end_to_end = [sample.end_to_end for sample in runs]
        paths[name] = {
            "enqueue_rate": statistics.median(enqueue),
            "end_to_end": statistics.median(end_to_end),
            "rounds": {"enqueue_rate": enqueue, "end_to_end": end_to_end},
        }
    keys = ("enqueue_rate", "end_to_end")
    qcompat, raw = paths["qcompat"], paths["raw"]
    return {
        "n": n,
        "rounds": rounds,
        "db": db,
        "unit": "tasks/s",
        "paths": paths,
        "ratio": {key: qcompat[key] / raw[key] for key in keys},
        # The two paths of a round ran back to back, so these ratios show how much
        # of a difference is the machine's drift between rounds.
        "ratio_by_round": {
            key: [
                ours / theirs
                for ours, theirs in zip(qcompat["rounds"][key], raw["rounds"][key], strict=True)
            ]
            for key in keys
        },
    }


def print_table(summary: dict[str, Any]) -> None:
    paths, ratio = summary["paths"], summary["ratio"]
    print(
        f"{summary['n']} no-op tasks per path on {DATABASE_NAMES[summary['db']]}, "
        f"median of {summary['rounds']} round(s):"
    )
    print(f"{'':<24}{'enqueue (tasks/s)':>20}{'end to end (tasks/s)':>24}")
    for name, label in LABELS.items():
        print(f"{label:<24}{paths[name]['enqueue_rate']:>20.0f}{paths[name]['end_to_end']:>24.0f}")
    print(f"{'ratio qcompat/raw':<24}{ratio['enqueue_rate']:>20.2f}{ratio['end_to_end']:>24.2f}")
    verdict = "met" if ratio["end_to_end"] >= 1.0 else "NOT met"
    print(f"Floor (end-to-end ratio of at least 1.00): {verdict}.")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    # Turning SIGTERM into SystemExit runs the cleanup below, as Ctrl-C does.
    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        set_up_django(args.db)
        check_broker()
        prepare_database()
        try:
            with tempfile.TemporaryDirectory(prefix="qcompat-bench-") as log_dir:
                samples = run(args.n, args.rounds, Path(log_dir))
        finally:
            clean_up()
    except BenchmarkError as error:
        progress(f"The benchmark failed. {error}")
        return 1
    except KeyboardInterrupt:
        progress("The benchmark was interrupted; its worker has been stopped.")
        return 130
    summary = summarize(samples, args.n, args.rounds, args.db)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_table(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
