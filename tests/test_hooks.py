"""Hooks and Django Q's signals, end to end through a real worker.

Tasks run on a worker that delays every write to the task table by 50 ms
before it commits; hooks are routed to a second, mostly idle worker that picks
them up at once. A hook dispatched before its task's row is committed would
find no row there.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from qcompat import async_task, fetch, result
from qcompat.envelope import HEADER, TaskInfo
from qcompat.models import Task
from qcompat.worker import execute
from tests.hooks import record
from tests.models import HookCall, SignalCall

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

WAIT_MS = 60_000


def wait_for(condition, seconds=60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_300_hooks_each_run_once_after_their_row_is_committed(slow_store_worker):
    ids = [async_task("tests.jobs.add", i, i, hook="tests.hooks.record") for i in range(300)]
    assert wait_for(lambda: HookCall.objects.count() >= 300, seconds=180)
    # Give a duplicate call time to show up, if there were one.
    time.sleep(1)
    calls = {call.task_id: call for call in HookCall.objects.all()}
    assert Counter(HookCall.objects.values_list("task_id", flat=True)).most_common(1)[0][1] == 1
    assert set(calls) == set(ids)
    for i, task_id in enumerate(ids):
        assert calls[task_id].success is True
        assert calls[task_id].row_committed is True
        assert calls[task_id].result == str(2 * i)
        assert calls[task_id].queue == f"{slow_store_worker.queue}-routed"


def test_hooks_run_for_failures_missing_functions_and_timeouts(slow_store_worker):
    failed = async_task("tests.jobs.fail", "hooked", hook="tests.hooks.record")
    missing = async_task("my.buggy.code", hook="tests.hooks.record")
    timed_out = async_task("tests.jobs.nap", 30, timeout=1, hook="tests.hooks.record")
    assert wait_for(lambda: HookCall.objects.count() >= 3)
    calls = {call.task_id: call for call in HookCall.objects.all()}
    assert set(calls) == {failed, missing, timed_out}
    for call in calls.values():
        assert call.success is False
        assert call.row_committed is True
    assert "hooked : Traceback" in calls[failed].result
    assert "No module named 'my'" in calls[missing].result
    assert "exceeded maximum timeout value (1 seconds)" in calls[timed_out].result


def test_a_raising_hook_is_logged_and_changes_nothing(slow_store_worker):
    task_id = async_task("tests.jobs.add", 20, 22, hook="tests.hooks.explode")
    assert wait_for(lambda: HookCall.objects.filter(task_id=task_id).exists())
    assert wait_for(
        lambda: f"Hook tests.hooks.explode for task {task_id}" in slow_store_worker.log()
    )
    task = fetch(task_id)
    assert task.success is True
    assert task.result == 42


def test_an_unimportable_hook_is_logged_and_changes_nothing(slow_store_worker):
    task_id = async_task("tests.jobs.add", 1, 1, hook="tests.hooks.not_there")
    assert result(task_id, wait=WAIT_MS) == 2
    message = f"Hook tests.hooks.not_there for task {task_id}"
    assert wait_for(lambda: message in slow_store_worker.log())
    assert "cannot be imported" in slow_store_worker.log()
    assert fetch(task_id).success is True


def test_hook_callable_is_stored_as_its_path_and_routed_by_it(slow_store_worker):
    task_id = async_task("tests.jobs.add", 2, 2, hook=record)
    assert result(task_id, wait=WAIT_MS) == 4
    assert fetch(task_id).hook == "tests.hooks.record"
    assert wait_for(lambda: HookCall.objects.filter(task_id=task_id).exists())
    # task_routes keyed by the hook's path sent it to its own queue.
    assert HookCall.objects.get(task_id=task_id).queue == f"{slow_store_worker.queue}-routed"
    # The hook is its own Celery task, shown under the hook's path.
    assert "Task tests.hooks.record[" in slow_store_worker.log()


def test_a_redelivered_task_does_not_run_its_hook_twice(slow_store_worker):
    task_id = async_task("tests.jobs.add", 5, 5, hook="tests.hooks.record")
    assert wait_for(lambda: HookCall.objects.filter(task_id=task_id).exists())
    stored = fetch(task_id)
    # What a broker does when a worker dies before acknowledging: the same message again.
    info = TaskInfo(func=stored.func, name=stored.name, started=stored.started, hook=stored.hook)
    execute.apply_async(
        (5, 5),
        task_id=task_id,
        shadow=stored.func,
        serializer="qcompat-signed-pickle",
        headers={HEADER: info.to_header()},
    )
    marker = async_task("tests.jobs.add", 0, 0, hook="tests.hooks.record")
    assert wait_for(lambda: HookCall.objects.filter(task_id=marker).exists())
    time.sleep(0.5)
    assert HookCall.objects.filter(task_id=task_id).count() == 1
    assert Task.objects.get(pk=task_id).attempt_count == 1


def test_signals_are_sent_in_the_worker(slow_store_worker):
    task_id = async_task("tests.jobs.add", 1, 2, group="signalled")
    assert result(task_id, wait=WAIT_MS) == 3
    assert wait_for(lambda: SignalCall.objects.filter(task_id=task_id).count() >= 2)
    pre = SignalCall.objects.get(task_id=task_id, signal="pre_execute")
    post = SignalCall.objects.get(task_id=task_id, signal="post_execute")
    assert pre.func == "tests.jobs.add"
    assert pre.payload["sender"] == "django_q"
    assert set(pre.payload["keys"]) >= {"id", "name", "func", "args", "kwargs", "started", "group"}
    assert post.payload["success"] is True
    assert post.payload["result"] == "3"
    assert set(post.payload["keys"]) >= {"result", "success", "stopped"}
    assert pre.id < post.id
