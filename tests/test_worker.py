"""The core promises, end to end through a real ``celery worker``.

Every test here runs once per deployment: on Redis with each result backend (none,
django-celery-results' ``django-db``, qcompat's ``TaskBackend``), and on RabbitMQ
with Celery's ``rpc://`` results.
"""

from __future__ import annotations

import datetime
import decimal
import time
import uuid

import pytest
from celery.result import AsyncResult
from django.contrib.auth.models import User

from qcompat import (
    async_task,
    count_group,
    delete_group,
    fetch,
    fetch_group,
    queue_size,
    result,
    result_group,
)
from qcompat.backends import TaskBackend
from qcompat.models import Failure, Success, Task
from qcompat.worker import execute
from tests.jobs import Point

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

WAIT_MS = 20_000


def test_copysign_by_path_and_by_callable(worker):
    import math

    by_path = async_task("math.copysign", 2, -2)
    by_callable = async_task(math.copysign, 2, -2)
    assert result(by_path, wait=WAIT_MS) == -2.0
    assert result(by_callable, wait=WAIT_MS) == -2.0
    task = fetch(by_callable)
    assert task.func == "math.copysign"
    assert task.success is True
    assert task.args == (2, -2)
    assert task.kwargs == {}
    assert task.attempt_count == 1
    assert task.started <= task.stopped
    assert task.time_taken() >= 0


def test_ids_are_celery_ids_and_names_are_humanized(worker):
    from humanhash import humanize

    task_id = async_task("tests.jobs.add", 1, 1)
    assert len(task_id) == 32
    assert task_id == uuid.UUID(task_id).hex
    assert result(task_id, wait=WAIT_MS) == 2
    task = fetch(task_id)
    assert task.name == humanize(task_id)
    # The same id is Celery's: AsyncResult of qcompat's task reads it back.
    assert execute.AsyncResult(task_id).get(timeout=10) == 2
    assert result(task.name) == 2


def test_values_keep_their_python_types(worker):
    stamp = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    user = User.objects.create(username="ada")
    values = [
        (1, 2),
        {1, 2},
        stamp,
        decimal.Decimal("1.10"),
        Point(1, 2),
        user,
        frozenset({"a"}),
    ]
    ids = [async_task("tests.jobs.echo_types", value, option=value) for value in values]
    for task_id, value in zip(ids, values, strict=True):
        returned, type_name = result(task_id, wait=WAIT_MS)
        assert returned == value
        assert type(returned) is type(value)
        assert type_name == type(value).__name__
        task = fetch(task_id)
        assert task.args == (value,)
        assert task.kwargs == {"option": value}
    assert result(ids[2])[0].tzinfo is not None


def test_failure_is_stored_with_error_text(worker):
    task_id = async_task("tests.jobs.fail", "bad input")
    task = fetch(task_id, wait=WAIT_MS)
    assert task.success is False
    assert task.result.startswith("bad input : Traceback (most recent call last):")
    assert task.result.rstrip().endswith("ValueError: bad input")
    assert result(task_id) == task.result
    assert Failure.objects.filter(pk=task_id).exists()
    assert not Success.objects.filter(pk=task_id).exists()
    with pytest.raises(ValueError, match="bad input"):
        execute.AsyncResult(task_id).get(timeout=10)


def test_unimportable_path_is_stored_as_failure(worker):
    task_id = async_task("my.buggy.code")
    task = fetch(task_id, wait=WAIT_MS)
    assert task.success is False
    assert "No module named 'my'" in task.result
    assert task.func == "my.buggy.code"


def test_none_result_is_saved(worker):
    task_id = async_task("tests.jobs.return_none")
    task = fetch(task_id, wait=WAIT_MS)
    assert task.success is True
    assert task.result is None
    assert result(task_id) is None


def test_groups_in_enqueue_order(worker):
    group = f"modf-{uuid.uuid4().hex[:6]}"
    for i in range(4):
        async_task("math.modf", i, group=group)
    async_task("tests.jobs.fail", group=group)
    assert result_group(group, count=5, wait=WAIT_MS) == [
        (0.0, 0.0),
        (0.0, 1.0),
        (0.0, 2.0),
        (0.0, 3.0),
    ]
    with_failures = result_group(group, failures=True)
    assert len(with_failures) == 5
    assert with_failures[-1].startswith("boom : ")
    assert count_group(group) == 5
    assert count_group(group, failures=True) == 1
    tasks = fetch_group(group)
    assert [task.args for task in tasks] == [(0,), (1,), (2,), (3,), ()]
    assert fetch_group(group, failures=False).count() == 4
    assert delete_group(group) == 5
    assert count_group(group) == 0
    assert Task.objects.count() >= 5


def test_delete_group_with_tasks(worker):
    group = f"gone-{uuid.uuid4().hex[:6]}"
    ids = [async_task("tests.jobs.add", i, i, group=group) for i in range(3)]
    result_group(group, count=3, wait=WAIT_MS)
    assert delete_group(group, tasks=True) == 3
    assert not Task.objects.filter(pk__in=ids).exists()
    assert result_group(group) == []


def test_timeout_is_a_hard_time_limit(worker):
    started = time.monotonic()
    task_id = async_task("tests.jobs.nap", 30, timeout=1)
    task = fetch(task_id, wait=WAIT_MS)
    assert time.monotonic() - started < 15
    assert task is not None
    assert task.success is False
    assert "exceeded maximum timeout value (1 seconds)" in task.result
    # The worker replaced the killed process and keeps working.
    assert result(async_task("tests.jobs.add", 2, 3), wait=WAIT_MS) == 5


def test_save_false_skips_successes_but_keeps_failures(worker):
    quiet = async_task("tests.jobs.add", 1, 2, save=False)
    loud = async_task("tests.jobs.fail", save=False)
    assert fetch(loud, wait=WAIT_MS).success is False
    marker = async_task("tests.jobs.add", 0, 0)
    assert result(marker, wait=WAIT_MS) == 0
    assert fetch(quiet) is None


def test_q_options_frees_option_names_for_the_function(worker):
    task_id = async_task("tests.jobs.echo", group="for the function", q_options={"group": "qgroup"})
    assert result(task_id, wait=WAIT_MS) == ((), {"group": "for the function"})
    assert fetch(task_id).group == "qgroup"


def test_task_name_overrides_the_humanized_name(worker):
    task_id = async_task("tests.jobs.add", 4, 4, task_name="eight")
    assert result("eight", wait=WAIT_MS) == 8
    assert fetch(task_id).name == "eight"


def test_broker_connection_is_reused(worker):
    with worker.app.connection_for_write() as connection:
        ids = [async_task("tests.jobs.add", i, 1, redis=connection) for i in range(3)]
        with connection.Producer() as producer:
            ids.append(async_task("tests.jobs.add", 10, 1, broker=producer))
    assert [result(task_id, wait=WAIT_MS) for task_id in ids] == [1, 2, 3, 11]


def test_queue_size_counts_what_waits_for_a_worker(worker):
    control = worker.app.control
    control.cancel_consumer(worker.queue, destination=[worker.hostname], reply=True)
    try:
        ids = [async_task("tests.jobs.add", i, 1) for i in range(2)]
        with worker.app.connection_for_read() as connection:
            # RabbitMQ answers a question about an unknown queue by closing the channel;
            # the caller's connection must still serve the next question.
            assert queue_size(broker=connection, cluster="no-such-queue-anywhere") == 0
            assert queue_size(broker=connection) == 2
    finally:
        control.add_consumer(worker.queue, destination=[worker.hostname], reply=True)
    assert [result(task_id, wait=WAIT_MS) for task_id in ids] == [1, 2]
    assert queue_size() == 0


def test_worker_shows_function_path_and_routes_by_it(worker):
    task_id = async_task("tests.jobs.nap", 3)
    deadline = time.monotonic() + 10
    active_names: list[str] = []
    while time.monotonic() < deadline and not active_names:
        replies = worker.app.control.inspect(destination=[worker.hostname], timeout=1).active()
        active_names = [
            task["name"] for tasks in (replies or {}).values() for task in tasks
            if task["id"] == task_id
        ]  # fmt: skip
    assert active_names == ["tests.jobs.nap"]
    routed = async_task("tests.jobs.routed_where")
    assert result(routed, wait=WAIT_MS) == f"{worker.queue}-routed"
    assert result(async_task("tests.jobs.routed_where"), wait=WAIT_MS) is not None
    assert result(task_id, wait=WAIT_MS) == 3
    log = worker.log()
    assert f"Task tests.jobs.nap[{task_id}] received" in log


def test_native_celery_tasks_land_where_the_deployment_stores_results(worker):
    from django_celery_results.models import TaskResult

    from tests.tasks import native_add, native_fail

    outcome = native_add.delay(2, 5)
    marker = async_task("tests.jobs.nap", 0.5)
    assert result(marker, wait=WAIT_MS) == 0.5
    if worker.variant == "no-backend":
        # Nothing stores native results, and qcompat does not start to.
        assert fetch(outcome.id) is None
        return
    assert outcome.get(timeout=20) == 7
    if worker.variant == "rabbitmq-rpc":
        # The result came back over AMQP; the database holds qcompat's own tasks only.
        assert fetch(outcome.id) is None
        assert fetch(marker).success is True
        return
    if worker.variant == "django-db":
        assert TaskResult.objects.filter(task_id=outcome.id, status="SUCCESS").exists()
        assert fetch(outcome.id) is None
        # qcompat's own tasks never go to django-celery-results' table.
        assert not TaskResult.objects.filter(task_id=marker).exists()
        return
    assert isinstance(worker.app.backend, TaskBackend)
    task = fetch(outcome.id)
    assert task.func == "tests.native_add"
    assert task.result == 7
    assert task.args == (2, 5)
    failed = native_fail.delay()
    with pytest.raises(KeyError):
        failed.get(timeout=20)
    assert fetch(failed.id).success is False
    assert AsyncResult(outcome.id, app=worker.app).state == "SUCCESS"
    assert AsyncResult(marker, app=worker.app).get(timeout=5) == 0.5


def test_worker_refuses_plain_and_forged_pickle(worker, tmp_path):
    from django.test import override_settings
    from kombu.serialization import register

    from qcompat import serializers
    from qcompat.envelope import HEADER, TaskInfo

    plain_marker, forged_marker, tampered_marker = (
        tmp_path / name for name in ("plain", "forged", "tampered")
    )

    def send(marker, serializer):
        info = TaskInfo(
            func="tests.jobs.touch", name="x", started=datetime.datetime.now(datetime.UTC)
        )
        execute.apply_async(
            (str(marker),),
            task_id=uuid.uuid4().hex,
            shadow="tests.jobs.touch",
            serializer=serializer,
            headers={HEADER: info.to_header()},
        )

    send(plain_marker, "pickle")
    with override_settings(SECRET_KEY="an attacker's guess"):
        send(forged_marker, serializers.SERIALIZER_NAME)

    def flip_last_byte(value):
        data = serializers.dumps(value)
        return data[:-1] + bytes([data[-1] ^ 1])

    register("tampered", flip_last_byte, serializers.loads, serializers.CONTENT_TYPE, "binary")
    try:
        send(tampered_marker, "tampered")
    finally:
        serializers.register_with_kombu()

    # A genuine task sent after them has run, so the worker has seen all three.
    assert result(async_task("tests.jobs.add", 1, 1), wait=WAIT_MS) == 2
    time.sleep(0.5)
    assert not plain_marker.exists()
    assert not forged_marker.exists()
    assert not tampered_marker.exists()
    log = worker.log()
    assert "Refusing to deserialize untrusted content of type pickle" in log
    assert log.count("does not match SECRET_KEY") >= 2
    assert Task.objects.filter(func="tests.jobs.touch").count() == 0


def test_events_name_the_function(worker):
    """What ``celery events`` and Flower read: task-received events carry the function path."""
    import threading

    received: dict[str, str] = {}
    with worker.app.connection_for_read() as connection:
        receiver = worker.app.events.Receiver(
            connection,
            handlers={
                "task-received": lambda event: received.__setitem__(event["uuid"], event["name"])
            },
        )
        # The receiver consumes on a connection of its own, cloned from this one.
        listener = threading.Thread(target=receiver.capture, daemon=True)
        listener.start()
        try:
            # On Redis, events are published to subscribers, and the receiver subscribes
            # some time after it starts, telling no one; events before that are lost. So
            # tasks are sent until one's event arrives.
            for _attempt in range(30):
                task_id = async_task("math.floor", 2.5)
                assert result(task_id, wait=WAIT_MS) == 2
                deadline = time.monotonic() + 1
                while task_id not in received and time.monotonic() < deadline:
                    time.sleep(0.05)
                if task_id in received:
                    break
        finally:
            receiver.should_stop = True
            listener.join(timeout=15)
    assert received.get(task_id) == "math.floor"


def test_an_unpicklable_return_value_is_stored_as_a_failure(worker):
    task = fetch(async_task("tests.jobs.not_picklable_result"), wait=WAIT_MS)
    assert task.success is False
    assert "return value (function) cannot be pickled" in task.result
