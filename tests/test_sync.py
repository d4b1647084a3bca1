"""``sync=True``: the worker's execution and storage path, run in the calling process."""

from __future__ import annotations

import datetime
import decimal

import pytest
from django.test import override_settings

from qcompat import async_task, fetch, result, signals
from qcompat.models import Failure, Success
from qcompat.worker import execute
from tests.jobs import Point
from tests.models import HookCall

pytestmark = pytest.mark.django_db


def test_sync_runs_saves_and_returns_the_id():
    task_id = async_task("math.copysign", 2, -2, sync=True)
    task = fetch(task_id)
    assert task.result == -2.0
    assert task.success is True
    assert Success.objects.filter(pk=task_id).exists()
    assert execute.AsyncResult(task_id).get() == -2.0


def test_sync_failure_is_stored_not_raised():
    task_id = async_task("my.buggy.code", sync=True)
    task = fetch(task_id)
    assert task.success is False
    assert task.result.startswith("No module named 'my'. : Traceback")
    assert Failure.objects.filter(pk=task_id).exists()
    with pytest.raises(ImportError):
        execute.AsyncResult(task_id).get()


def test_sync_is_the_default_with_q_cluster_sync():
    with override_settings(Q_CLUSTER={"sync": True}):
        task_id = async_task("tests.jobs.add", 2, 3)
    assert result(task_id) == 5


def test_sync_arguments_go_through_the_serializer():
    argument = [Point(1, 2), {1}, decimal.Decimal("2.5"), datetime.date(2026, 1, 1)]
    task_id = async_task("tests.jobs.echo", argument, sync=True)
    (returned,), _ = result(task_id)
    assert returned == argument
    # The function got a copy, as it would on a worker, not the caller's object.
    assert returned is not argument


def test_sync_hook_runs_inline_after_the_save():
    task_id = async_task("tests.jobs.add", 1, 1, hook="tests.hooks.record", sync=True)
    call = HookCall.objects.get(task_id=task_id)
    assert call.success is True
    assert call.result == "2"
    assert call.row_committed is True


def test_sync_failure_runs_its_hook_too():
    task_id = async_task("tests.jobs.fail", hook="tests.hooks.record", sync=True)
    assert HookCall.objects.get(task_id=task_id).success is False


def test_sync_raising_hook_does_not_reach_the_caller(caplog):
    task_id = async_task("tests.jobs.add", 1, 1, hook="tests.hooks.explode", sync=True)
    assert fetch(task_id).success is True
    assert f"Hook tests.hooks.explode for task {task_id}" in caplog.text


def test_signals_in_order_with_django_q_payloads():
    received = []

    def on_pre_enqueue(sender, task, **kwargs):
        received.append(("pre_enqueue", sender, dict(task)))

    def on_pre_execute(sender, func, task, **kwargs):
        received.append(("pre_execute", sender, {**task, "callable": func}))

    def on_post_execute(sender, task, **kwargs):
        received.append(("post_execute", sender, dict(task)))

    signals.pre_enqueue.connect(on_pre_enqueue)
    signals.pre_execute.connect(on_pre_execute)
    signals.post_execute.connect(on_post_execute)
    try:
        task_id = async_task("tests.jobs.add", 1, 2, group="g", sync=True)
    finally:
        signals.pre_enqueue.disconnect(on_pre_enqueue)
        signals.pre_execute.disconnect(on_pre_execute)
        signals.post_execute.disconnect(on_post_execute)
    assert [name for name, _, _ in received] == ["pre_enqueue", "pre_execute", "post_execute"]
    assert {sender for _, sender, _ in received} == {"django_q"}
    enqueued, executing, executed = (payload for _, _, payload in received)
    assert enqueued["id"] == task_id
    assert enqueued["func"] == "tests.jobs.add"
    assert enqueued["args"] == (1, 2)
    assert enqueued["group"] == "g"
    from tests.jobs import add

    assert executing["callable"] is add
    assert executing["func"] == "tests.jobs.add"
    assert executed["result"] == 3
    assert executed["success"] is True
    assert executed["stopped"] >= executed["started"]


def test_pre_enqueue_runs_before_anything_is_sent():
    def refuse(sender, task, **kwargs):
        raise RuntimeError("not today")

    signals.pre_enqueue.connect(refuse)
    try:
        with pytest.raises(RuntimeError):
            async_task("tests.jobs.add", 1, 2, sync=True)
    finally:
        signals.pre_enqueue.disconnect(refuse)
    assert not Success.objects.exists()


def test_sync_needs_no_broker():
    from celery import Celery

    unreachable = Celery("no-broker", broker="redis://127.0.0.1:1/0")
    unreachable.conf.broker_connection_retry = False
    unreachable.set_current()
    try:
        task_id = async_task("tests.jobs.add", 2, 2, hook="tests.hooks.record", sync=True)
    finally:
        from tests.celery_app import no_backend

        no_backend.set_current()
    assert result(task_id) == 4
    assert HookCall.objects.filter(task_id=task_id).exists()


def test_pre_enqueue_receivers_may_change_the_task():
    def change(sender, task, **kwargs):
        task["args"] = (10, 20)
        task["group"] = "changed"
        task["hook"] = "tests.hooks.record"

    signals.pre_enqueue.connect(change)
    try:
        task_id = async_task("tests.jobs.add", 1, 2, sync=True)
    finally:
        signals.pre_enqueue.disconnect(change)
    task = fetch(task_id)
    assert (task.result, task.group, task.hook) == (30, "changed", "tests.hooks.record")
    assert HookCall.objects.filter(task_id=task_id).exists()


def test_a_failing_post_execute_receiver_changes_nothing(caplog):
    def explode(sender, task, **kwargs):
        raise RuntimeError("receiver failure")

    signals.post_execute.connect(explode)
    try:
        task_id = async_task("tests.jobs.add", 1, 2, sync=True)
    finally:
        signals.post_execute.disconnect(explode)
    assert fetch(task_id).result == 3
    assert "receiver failure" in caplog.text


def test_an_unpicklable_return_value_is_stored_as_a_failure():
    task_id = async_task("tests.jobs.not_picklable_result", sync=True)
    task = fetch(task_id)
    assert task.success is False
    assert "return value (function) cannot be pickled" in task.result
