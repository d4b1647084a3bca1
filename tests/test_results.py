"""Reading results back: ids and names, ``wait`` in milliseconds, groups, proxies."""

from __future__ import annotations

import time
import uuid

import pytest

from qcompat import async_task, count_group, delete_group, fetch, fetch_group, result, result_group
from qcompat.exceptions import InvalidTaskId
from qcompat.models import Failure, Success, Task

pytestmark = pytest.mark.django_db


def test_humanized_name_matches_django_q():
    from qcompat.names import task_name_for

    # Django Q's own example id and name.
    assert task_name_for("0b86cb58d30c422c9cbdf3a2f9324665") == "california-pluto-kentucky-uranus"
    task_id = async_task("tests.jobs.add", 1, 1, sync=True)
    assert fetch(task_id).name == task_name_for(task_id)


def test_result_and_fetch_by_id_name_and_uuid():
    task_id = async_task("tests.jobs.add", 1, 1, sync=True)
    task = fetch(task_id)
    assert result(task.name) == 2
    assert fetch(task.name) == task
    assert result(uuid.UUID(task_id)) == 2


def test_duplicate_names_give_the_newest_task():
    async_task("tests.jobs.add", 1, 1, task_name="twin", sync=True)
    newer = async_task("tests.jobs.add", 2, 2, task_name="twin", sync=True)
    assert result("twin") == 4
    assert fetch("twin").id == newer


@pytest.mark.parametrize("bad", [None, 12, b"bytes", "", ["id"]])
def test_bad_id_types_are_refused(bad):
    with pytest.raises(InvalidTaskId, match="non-empty string"):
        result(bad)
    with pytest.raises(InvalidTaskId):
        fetch(bad)


@pytest.mark.parametrize("bad", [None, 3, ""])
def test_bad_group_types_are_refused(bad):
    with pytest.raises(InvalidTaskId, match="group id"):
        result_group(bad)


def test_wait_is_in_milliseconds():
    missing = uuid.uuid4().hex
    started = time.monotonic()
    assert result(missing) is None
    assert fetch(missing) is None
    assert time.monotonic() - started < 0.2
    started = time.monotonic()
    assert result(missing, wait=300) is None
    assert time.monotonic() - started >= 0.3


def test_groups_of_successes_and_failures():
    for i in range(3):
        async_task("math.modf", i + 0.5, group="g", sync=True)
    async_task("tests.jobs.fail", "no", group="g", sync=True)
    assert result_group("g") == [(0.5, 0.0), (0.5, 1.0), (0.5, 2.0)]
    with_failures = result_group("g", failures=True)
    assert with_failures[:3] == [(0.5, 0.0), (0.5, 1.0), (0.5, 2.0)]
    assert with_failures[3].startswith("no : Traceback")
    assert fetch_group("g").count() == 4
    assert fetch_group("g", failures=False).count() == 3
    assert isinstance(fetch_group("g").first(), Task)
    assert count_group("g") == 4
    assert count_group("g", failures=True) == 1
    assert result_group("g", count=4, wait=-1)[0] == (0.5, 0.0)


def test_unknown_groups_are_empty():
    assert result_group("nothing") == []
    assert fetch_group("nothing").count() == 0
    assert count_group("nothing") == 0
    assert delete_group("nothing") == 0
    assert delete_group("nothing", tasks=True) == 0


def test_delete_group_label_or_tasks():
    ids = [async_task("tests.jobs.add", i, i, group="d", sync=True) for i in range(2)]
    assert delete_group("d") == 2
    assert Task.objects.filter(pk__in=ids, group=None).count() == 2
    for task_id in ids:
        Task.objects.filter(pk=task_id).update(group="d")
    assert delete_group("d", tasks=True) == 2
    assert not Task.objects.filter(pk__in=ids).exists()


def test_model_classmethods_match_the_spec():
    ok = async_task("tests.jobs.add", 1, 1, group="m", sync=True)
    bad = async_task("tests.jobs.fail", group="m", sync=True)
    assert Task.get_result(ok) == 2
    assert Task.get_task(ok).id == ok
    assert Task.get_result_group("m") == [2]
    assert [t.id for t in Task.get_task_group("m")] == [ok, bad]
    assert [t.id for t in Task.get_task_group("m", failures=False)] == [ok]
    assert Task.get_group_count("m") == 2
    assert Task.get_group_count("m", failures=True) == 1
    assert Task.delete_group("m") == 2
    assert str(Task.get_task(ok)) == Task.get_task(ok).name


def test_proxies_split_on_success():
    ok = async_task("tests.jobs.add", 1, 1, sync=True)
    bad = async_task("tests.jobs.fail", sync=True)
    assert list(Success.objects.values_list("id", flat=True)) == [ok]
    assert list(Failure.objects.values_list("id", flat=True)) == [bad]
    assert Task.objects.count() == 2
