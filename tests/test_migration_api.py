"""The rest of Django Q's call surface: AsyncTask, chains, iterations, and more options."""

from __future__ import annotations

import datetime
import itertools
import time

import pytest
from django.db import transaction
from django.test import override_settings

from qcompat import (
    Async,
    AsyncTask,
    Chain,
    Iter,
    async_chain,
    async_iter,
    async_task,
    count_group,
    fetch,
    fetch_group,
    result,
    result_group,
)
from qcompat.exceptions import InvalidOption
from qcompat.models import Failure, Success, Task
from tests.models import HookCall

WAIT_MS = 20_000


@pytest.mark.django_db
class TestAsyncTask:
    def test_run_result_fetch(self):
        task = AsyncTask("tests.jobs.add", 2, 3, sync=True)
        assert task.result() is None
        assert task.fetch() is None
        task_id = task.run()
        assert task.started is True
        assert task.id == task_id
        assert task.result() == 5
        assert task.fetch().id == task_id

    def test_changing_an_option_resets_started(self):
        task = AsyncTask("tests.jobs.add", 1, 1, sync=True)
        task.run()
        task.group = "again"
        assert task.started is False
        assert task.result() is None
        task.run()
        assert task.result_group() == [2]
        assert task.fetch_group().count() == 1

    def test_options_live_in_q_options_when_given(self):
        task = AsyncTask("tests.jobs.echo", group="for the function", q_options={"sync": True})
        assert task.sync is True
        task.group = "label"
        assert task.kwargs["q_options"]["group"] == "label"
        task.run()
        assert task.result() == ((), {"group": "for the function"})
        assert fetch(task.id).group == "label"

    def test_old_name(self):
        assert Async is AsyncTask
        assert AsyncTask("tests.jobs.add", 1, 1).result_group() is None


@pytest.mark.django_db
class TestChains:
    def test_links_run_in_order_and_go_on_after_a_failure(self):
        group = async_chain(
            [
                ("tests.jobs.add", (1, 2)),
                ("tests.jobs.fail", ("link two",)),
                ("tests.jobs.echo", (3,), {"k": 4}),
                "tests.jobs.return_none",
            ],
            sync=True,
        )
        tasks = list(fetch_group(group))
        assert [task.func for task in tasks] == [
            "tests.jobs.add",
            "tests.jobs.fail",
            "tests.jobs.echo",
            "tests.jobs.return_none",
        ]
        assert [task.success for task in tasks] == [True, False, True, True]
        assert result_group(group) == [3, ((3,), {"k": 4}), None]
        # Each link was enqueued only once the one before it was saved.
        for earlier, later in itertools.pairwise(tasks):
            assert later.started >= earlier.stopped

    def test_chain_object(self):
        chain = Chain(sync=True)
        assert chain.append("tests.jobs.add", 1, 1) == 1
        assert chain.append("tests.jobs.add", 2, 2) == 2
        assert chain.result() is None
        group = chain.run()
        assert chain.result() == [2, 4]
        assert chain.current() == 2
        assert chain.length() == 2
        assert chain.fetch().count() == 2
        chain.append("tests.jobs.add", 3, 3)
        assert chain.started is False
        # The earlier run lost its group label; the next run is counted afresh.
        assert count_group(group) == 0
        chain.run()
        assert chain.result() == [2, 4, 6]

    def test_a_bad_link_is_refused_before_anything_runs(self):
        with pytest.raises(Exception, match="lambda"):
            async_chain([("tests.jobs.add", (1, 1)), (lambda: 1,)], sync=True)
        assert not Task.objects.exists()
        with pytest.raises(ValueError, match="at least one link"):
            async_chain([])


@pytest.mark.django_db
class TestIterations:
    def test_results_are_collated_in_argument_order(self):
        iter_id = async_iter("math.floor", [1.5, 2.5, (3.5,)], sync=True)
        assert result(iter_id) == [1, 2, 3]
        task = fetch(iter_id)
        assert task.args == [(1.5,), (2.5,), (3.5,)]
        assert task.success is True
        # Only the collated task is left.
        assert Task.objects.count() == 1

    def test_a_failure_is_collated_as_its_error(self):
        iter_id = async_iter("tests.jobs.fail", ["a", "b"], sync=True)
        task = fetch(iter_id)
        assert task.success is False
        assert [text.split(" : ")[0] for text in task.result] == ["a", "b"]

    def test_hook_runs_once_on_the_collated_task(self):
        iter_id = async_iter("math.floor", [1.5, 2.5], hook="tests.hooks.record", sync=True)
        assert list(HookCall.objects.values_list("task_id", "result")) == [(iter_id, "[1, 2]")]

    def test_iter_object(self):
        it = Iter("math.floor", sync=True)
        assert it.append(1.5) == 1
        assert it.append(2.5) == 2
        assert it.result() is None
        it.run()
        assert it.result() == [1, 2]
        assert it.fetch().id == it.id
        assert it.length() == 2


@pytest.mark.django_db
class TestSaveLimit:
    def test_keeps_the_newest_successes_and_every_failure(self):
        with override_settings(Q_CLUSTER={"save_limit": 2}):
            ids = [async_task("tests.jobs.add", i, i, sync=True) for i in range(4)]
            failures = [async_task("tests.jobs.fail", sync=True) for _ in range(3)]
            grouped = [
                async_task("tests.jobs.add", 9, i, group="kept", sync=True) for i in range(3)
            ]
        assert set(Success.objects.filter(group=None).values_list("id", flat=True)) == set(ids[2:])
        assert set(Failure.objects.values_list("id", flat=True)) == set(failures)
        # Grouped tasks are never pruned: their group counts them.
        assert set(Success.objects.filter(group="kept").values_list("id", flat=True)) == set(
            grouped
        )

    def test_minus_one_keeps_no_successes_unless_asked(self):
        with override_settings(Q_CLUSTER={"save_limit": -1}):
            dropped = async_task("tests.jobs.add", 1, 1, sync=True)
            kept = async_task("tests.jobs.add", 1, 1, save=True, sync=True)
            failed = async_task("tests.jobs.fail", sync=True)
        assert fetch(dropped) is None
        assert fetch(kept).result == 2
        assert fetch(failed).success is False


@pytest.mark.django_db
def test_task_group_helpers():
    task_id = async_task("tests.jobs.add", 1, 1, group="helpers", sync=True)
    async_task("tests.jobs.fail", group="helpers", sync=True)
    task = fetch(task_id)
    assert task.group_result() == [2]
    assert task.group_count() == 2
    assert task.group_count(failures=True) == 1
    assert task.group_delete() == 2
    assert fetch(task_id).group_result() is None


@pytest.mark.django_db
def test_cached_is_refused_with_a_reason():
    with pytest.raises(InvalidOption, match="cached option"):
        async_task("tests.jobs.add", 1, 1, cached=True)


@pytest.mark.django_db
def test_celery_options_through_q_options(queue):
    eta = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    async_task(
        "tests.jobs.echo",
        queue="for the function",
        q_options={"eta": eta, "expires": 3600, "priority": 3, "retry": False},
    )
    elsewhere_queue = f"{queue.name}-elsewhere"
    async_task("tests.jobs.add", 1, 1, cluster=elsewhere_queue)
    # Redis keeps each priority in a list of its own, named with kombu's separator.
    [message] = queue.messages(f"{queue.name}\x06\x163")
    assert message["headers"]["eta"].startswith("2030-01-01T00:00:00")
    assert message["headers"]["expires"] is not None
    assert message["properties"]["priority"] == 3
    queue.client.delete(f"{queue.name}\x06\x163")
    [elsewhere] = queue.messages(elsewhere_queue)
    assert elsewhere["headers"]["shadow"] == "tests.jobs.add"
    queue.client.delete(elsewhere_queue)


@pytest.mark.parametrize(
    ("q_options", "text"),
    [
        ({"priority": 300}, "priority"),
        ({"countdown": -1}, "countdown"),
        ({"eta": datetime.datetime(2030, 1, 1)}, "timezone-aware"),
        ({"expires": "soon"}, "expires"),
        ({"retry_policy": 3}, "retry_policy"),
        ({"queue": 5}, "queue"),
    ],
)
@pytest.mark.django_db
def test_bad_celery_options_are_refused(queue, q_options, text):
    with pytest.raises(InvalidOption, match=text):
        async_task("tests.jobs.add", 1, 1, q_options=q_options)
    assert queue.messages() == []


@pytest.mark.django_db(transaction=True)
def test_on_commit_sends_only_after_the_transaction_commits(queue):
    with transaction.atomic():
        kept = async_task("tests.jobs.add", 1, 1, on_commit=True)
        assert queue.messages() == []
    assert [message["headers"]["id"] for message in queue.messages()] == [kept]

    def enqueue_then_fail():
        with transaction.atomic():
            async_task("tests.jobs.add", 1, 1, on_commit=True)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        enqueue_then_fail()
    assert len(queue.messages()) == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
class TestThroughAWorker:
    def test_chain(self, worker):
        chain = Chain(
            [("tests.jobs.add", (1, 1)), ("tests.jobs.fail",), ("tests.jobs.add", (2, 2))]
        )
        chain.run()
        assert chain.result(wait=WAIT_MS) == [2, 4]
        tasks = list(chain.fetch())
        assert [task.success for task in tasks] == [True, False, True]
        for earlier, later in itertools.pairwise(tasks):
            assert later.started >= earlier.stopped

    def test_iteration(self, worker):
        iter_id = async_iter("math.floor", [i + 0.5 for i in range(10)])
        assert result(iter_id, wait=WAIT_MS) == list(range(10))
        assert Task.objects.count() == 1

    def test_cluster_and_countdown(self, worker):
        routed = async_task("tests.jobs.routed_where", cluster=f"{worker.queue}-routed")
        assert result(routed, wait=WAIT_MS) == f"{worker.queue}-routed"
        sent = time.monotonic()
        later = async_task("tests.jobs.add", 1, 2, q_options={"countdown": 2})
        assert result(later, wait=WAIT_MS) == 3
        assert time.monotonic() - sent >= 2

    def test_async_task_object(self, worker):
        task = AsyncTask("tests.jobs.add", 4, 5, group="object")
        task.run()
        assert task.result(wait=WAIT_MS) == 9
        assert task.result_group(count=1, wait=WAIT_MS) == [9]

    def test_on_commit(self, worker):
        with transaction.atomic():
            task_id = async_task("tests.jobs.add", 6, 7, on_commit=True)
        assert result(task_id, wait=WAIT_MS) == 13
