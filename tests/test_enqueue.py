"""``async_task`` at the call site: options, the message it sends, and bad input.

Bad input raises before anything reaches the broker; the tests read the Redis
queue itself to prove that nothing was enqueued.
"""

from __future__ import annotations

import base64
import threading

import pytest
import redis
from celery import current_app
from django.test import override_settings

import qcompat
import qcompat.tasks
from qcompat import async_task
from qcompat.exceptions import ArgumentsNotSerializable, InvalidOption, InvalidTaskFunction
from qcompat.models import Task
from tests import jobs

pytestmark = pytest.mark.django_db


def test_async_is_an_alias_of_async_task():
    assert getattr(qcompat, "async") is async_task
    assert getattr(qcompat.tasks, "async") is async_task
    assert set(qcompat.__all__) == set(qcompat.tasks.__all__)
    with pytest.raises(AttributeError):
        qcompat.not_a_name  # noqa: B018


def test_message_names_the_function_and_is_signed(queue):
    task_id = async_task(jobs.add, 1, 2, group="sums", hook="tests.hooks.record", timeout=30)
    [message] = queue.messages()
    headers = message["headers"]
    assert headers["id"] == task_id
    assert headers["task"] == "qcompat.execute"
    assert headers["shadow"] == "tests.jobs.add"
    assert headers["timelimit"] == [30.0, None]
    assert headers["qcompat"]["group"] == "sums"
    assert headers["qcompat"]["hook"] == "tests.hooks.record"
    assert message["content-type"] == "application/x-qcompat-signed-pickle"
    body = base64.b64decode(message["body"])
    assert body.startswith(b"QC1")


def test_timeout_defaults_to_q_cluster(queue):
    with override_settings(Q_CLUSTER={"timeout": 7}):
        async_task("tests.jobs.add", 1, 2)
        async_task("tests.jobs.add", 1, 2, timeout=None)
    first, second = queue.messages()
    assert first["headers"]["timelimit"] == [7.0, None]
    assert second["headers"]["timelimit"] == [None, None]


def test_explicit_sync_false_beats_q_cluster_sync(queue):
    with override_settings(Q_CLUSTER={"sync": True}):
        in_process = async_task("tests.jobs.add", 1, 2)
        sent = async_task("tests.jobs.add", 1, 2, sync=False)
    assert Task.objects.get(pk=in_process).result == 3
    assert [message["headers"]["id"] for message in queue.messages()] == [sent]


def nested_function_holder():
    def nested():
        return 1

    return nested


@pytest.mark.parametrize(
    ("func", "error", "message"),
    [
        (lambda: 1, InvalidTaskFunction, "lambda or a nested function"),
        (nested_function_holder(), InvalidTaskFunction, "lambda or a nested function"),
        (jobs.Maths().instance_method, InvalidTaskFunction, "not what its path"),
        (42, InvalidTaskFunction, "dotted path or an importable callable"),
        ("nodots", InvalidTaskFunction, "not a dotted path"),
        (" tests.jobs.add", InvalidTaskFunction, "not a dotted path"),
    ],
)
def test_unimportable_functions_are_refused(queue, func, error, message):
    with pytest.raises(error, match=message):
        async_task(func, 1)
    assert queue.messages() == []


def test_static_and_class_methods_are_importable(queue):
    async_task(jobs.Maths.double, 1)
    async_task(jobs.Maths.triple, 1)
    assert [m["headers"]["shadow"] for m in queue.messages()] == [
        "tests.jobs.Maths.double",
        "tests.jobs.Maths.triple",
    ]


@pytest.mark.parametrize("sync", [False, True])
def test_unpicklable_arguments_are_refused(queue, sync):
    with pytest.raises(ArgumentsNotSerializable, match="cannot be pickled"):
        async_task("tests.jobs.echo", threading.Lock(), sync=sync)
    with pytest.raises(ArgumentsNotSerializable):
        async_task("tests.jobs.echo", key=lambda: 1, sync=sync)
    assert queue.messages() == []
    assert Task.objects.count() == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"q_options": {"colour": "red"}}, "Unknown q_options key"),
        ({"q_options": ["hook"]}, "q_options must be a dict"),
        ({"timeout": 0}, "timeout must be a positive number"),
        ({"timeout": -1}, "timeout must be a positive number"),
        ({"timeout": "5"}, "timeout must be a positive number"),
        ({"timeout": True}, "timeout must be a positive number"),
        ({"group": 7}, "group must be a non-empty string"),
        ({"group": "x" * 101}, "group must be a non-empty string"),
        ({"task_name": ""}, "task_name must be a non-empty string"),
        ({"sync": "yes"}, "sync must be True or False"),
        ({"save": 1}, "save must be True or False"),
        ({"broker": object()}, "kombu Connection or Producer"),
        ({"redis": redis.Redis()}, "kombu Connection or Producer"),
    ],
)
def test_bad_options_are_refused(queue, options, message):
    with pytest.raises(InvalidOption, match=message):
        async_task("tests.jobs.add", 1, 2, **options)
    assert queue.messages() == []


def test_a_hook_must_be_importable_too(queue):
    with pytest.raises(InvalidTaskFunction, match="hook"):
        async_task("tests.jobs.add", 1, 2, hook=lambda task: None)
    assert queue.messages() == []


def test_q_options_take_precedence_and_leave_kwargs_alone(queue):
    async_task("tests.jobs.echo", hook="kept", q_options={"hook": "tests.hooks.record"})
    [message] = queue.messages()
    assert message["headers"]["qcompat"]["hook"] == "tests.hooks.record"


def test_queue_size_counts_waiting_messages(queue):
    from qcompat.tasks import queue_size

    assert queue_size() == 0
    for i in range(3):
        async_task("tests.jobs.add", i, i)
    assert queue_size() == 3
    with current_app.connection_for_read() as connection:
        assert queue_size(broker=connection) == 3
        assert connection.connected
    assert queue_size(cluster="no-such-queue-anywhere") == 0
