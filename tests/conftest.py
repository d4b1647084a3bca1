"""Fixtures that start real services' clients and real ``celery worker`` processes.

Tests that need Redis or PostgreSQL skip when the service is unreachable, except
under ``CI=true``, where an unreachable service fails the run instead.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings

from tests.project_processes import Service, project_env


def service_reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    if service_reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}."
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} CI must provide it; see .ci/run.")
    pytest.skip(f"{message} Start it to run this test.")


@pytest.fixture(scope="session")
def redis_broker() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    return settings.CELERY_BROKER_URL


def require_broker(url: str) -> None:
    """Skip, or fail under CI, when the broker at ``url`` is not listening."""
    from kombu.utils.url import url_to_parts

    parts = url_to_parts(url)
    name = "RabbitMQ" if parts.scheme.startswith("amqp") else "Redis"
    default_port = 5672 if name == "RabbitMQ" else 6379
    require_service(name, parts.hostname or "127.0.0.1", parts.port or default_port)


class RedisQueue:
    """A test app's queue, read straight from Redis, with no worker consuming it."""

    def __init__(self, client: redis.Redis, name: str) -> None:
        self.client, self.name = client, name

    def messages(self, name: str | None = None) -> list[dict[str, Any]]:
        # kombu pushes onto the head of the list; oldest first reads it from the tail.
        raw = self.client.lrange(name or self.name, 0, -1)
        return [json.loads(message) for message in reversed(raw)]


@pytest.fixture
def queue(redis_broker: str) -> Iterator[RedisQueue]:
    """The no-backend test app's queue, made current and emptied before and after."""
    from tests.celery_app import no_backend

    no_backend.set_current()
    client = redis.Redis.from_url(redis_broker)
    reader = RedisQueue(client, no_backend.conf.task_default_queue)
    client.delete(reader.name)
    yield reader
    client.delete(reader.name)
    client.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if settings.DATABASE_KIND == "postgres" and not service_reachable("127.0.0.1", 5432):
        reason = "PostgreSQL is not reachable at 127.0.0.1:5432."
        if os.environ.get("CI") == "true":
            raise pytest.UsageError(f"{reason} CI must provide it; see .ci/run.")
        for item in items:
            item.add_marker(pytest.mark.skip(reason=f"{reason} Start it to run these tests."))


class WorkerProcess:
    """A ``celery worker`` subprocess (prefork, 2 processes) for one test Celery app."""

    def __init__(
        self,
        variant: str,
        log_path: Path,
        env: dict[str, str] | None = None,
        queues: tuple[str, ...] = ("", "-routed"),
    ) -> None:
        from tests.celery_app import APPS

        self.variant = variant
        self.app = APPS[variant]
        self.queue = self.app.conf.task_default_queue
        self.queues = [f"{self.queue}{suffix}" for suffix in queues]
        self.hostname = f"{variant}{queues[0]}-{os.getpid()}@qcompat-tests"
        self.log_path = log_path
        self.extra_env = env or {}
        self.service: Service | None = None

    @property
    def pid(self) -> int:
        assert self.service is not None
        return self.service.pid

    def start(self) -> None:
        command = [
            sys.executable, "-m", "celery",
            "-A", f"tests.celery_app:{self.variant.replace('-', '_')}",
            "worker", "--pool", "prefork", "--concurrency", "2",
            "--queues", ",".join(self.queues),
            "--hostname", self.hostname,
            "--loglevel", "INFO", "--task-events",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--logfile", str(self.log_path),
        ]  # fmt: skip
        env = project_env("tests.settings", **self.extra_env)
        self.service = Service(command, env, self.log_path)
        self.service.start()

    def log(self) -> str:
        return self.service.log() if self.service else ""

    def stop(self) -> None:
        if self.service is None:
            return
        self.service.stop()
        with self.app.connection_for_write() as conn:
            channel = conn.default_channel
            for queue in self.queues:
                channel.queue_delete(queue)
                if conn.transport.driver_type == "redis":
                    # kombu keeps each queue's exchange binding in a Redis set of its own.
                    channel.client.delete(f"_kombu.binding.{queue}")


def run_worker(
    variant: str, tmp_path_factory: pytest.TempPathFactory, env: dict[str, str] | None = None
) -> Iterator[WorkerProcess]:
    log_path = tmp_path_factory.mktemp("worker") / f"{variant}.log"
    process = WorkerProcess(variant, log_path, env)
    process.start()
    try:
        yield process
    finally:
        process.stop()


class TaskAndHookWorkers:
    """One worker for a test app's task queue, another for its hook queue."""

    def __init__(self, tasks: WorkerProcess, hooks: WorkerProcess) -> None:
        self.tasks, self.hooks = tasks, hooks
        self.app = tasks.app
        self.queue = tasks.queue

    def log(self) -> str:
        return self.tasks.log() + self.hooks.log()


@pytest.fixture(scope="session", params=["no-backend", "django-db", "task-backend", "rabbitmq-rpc"])
def worker_session(
    request: pytest.FixtureRequest,
    django_db_setup: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkerProcess]:
    """A running worker for each way a deployment may configure its broker and results."""
    from tests.celery_app import APPS

    require_broker(APPS[request.param].conf.broker_url)
    yield from run_worker(request.param, tmp_path_factory)


@pytest.fixture(scope="session")
def slow_store_worker_session(
    redis_broker: str, django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TaskAndHookWorkers]:
    """Workers whose every write to the task table takes 50 ms longer before it commits,
    and which record Django Q's signals; hooks go to the second one."""
    env = {"QCOMPAT_TEST_SLOW_STORE_MS": "50", "QCOMPAT_TEST_RECORD_SIGNALS": "1"}
    folder = tmp_path_factory.mktemp("worker")
    tasks = WorkerProcess("slow-store", folder / "tasks.log", env, queues=("",))
    hooks = WorkerProcess("slow-store", folder / "hooks.log", env, queues=("-routed",))
    try:
        tasks.start()
        hooks.start()
        yield TaskAndHookWorkers(tasks, hooks)
    finally:
        hooks.stop()
        tasks.stop()


@pytest.fixture
def worker(worker_session: WorkerProcess) -> WorkerProcess:
    # Several test apps live in one process; async_task sends through the current one.
    worker_session.app.set_current()
    return worker_session


@pytest.fixture
def slow_store_worker(slow_store_worker_session: TaskAndHookWorkers) -> TaskAndHookWorkers:
    slow_store_worker_session.app.set_current()
    return slow_store_worker_session
