"""The "Successful tasks" and "Failed tasks" admin pages, through Django's test client."""

from __future__ import annotations

import datetime
import time
import uuid
from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from qcompat import async_task, fetch, result
from qcompat.admin import LargeTablePaginator
from qcompat.models import Failure, Success, Task
from qcompat.worker import execute

pytestmark = pytest.mark.django_db

SUCCESSES = "/admin/qcompat/success/"
FAILURES = "/admin/qcompat/failure/"
WAIT_MS = 20_000


def make_task(success: bool = True, **fields) -> Task:
    task_id = uuid.uuid4().hex
    stopped = timezone.now()
    values = {
        "id": task_id,
        "name": f"task-{task_id[:8]}",
        "func": "tests.jobs.add",
        "args": (1, 2),
        "kwargs": {},
        "result": 3 if success else "boom : Traceback (most recent call last):\nValueError: boom\n",
        "started": stopped - datetime.timedelta(milliseconds=250),
        "stopped": stopped,
        "success": success,
        "attempt_count": 1,
        **fields,
    }
    return Task.objects.create(**values)


def run_action(client, url: str, action: str, *tasks: Task):
    data = {"action": action, ACTION_CHECKBOX_NAME: [task.pk for task in tasks], "index": 0}
    return client.post(url, data, follow=True)


def test_only_the_two_proxies_are_registered():
    assert admin.site.is_registered(Success)
    assert admin.site.is_registered(Failure)
    assert not admin.site.is_registered(Task)


def test_successful_tasks_list(admin_client):
    task = make_task(group="nightly")
    failed = make_task(success=False)
    page = admin_client.get(SUCCESSES).content.decode()
    assert "Successful tasks" in page
    for text in (task.name, "tests.jobs.add", "nightly", "0.250"):
        assert text in page
    assert failed.name not in page
    assert "Add successful task" not in page


def test_failed_tasks_list_shows_a_short_result(admin_client):
    task = make_task(success=False, result="x" * 300)
    succeeded = make_task()
    page = admin_client.get(FAILURES).content.decode()
    assert "Failed tasks" in page
    assert task.name in page
    assert "x" * 99 + "…" in page
    assert "x" * 101 not in page
    assert succeeded.name not in page


def test_search_by_name_function_group_and_id(admin_client):
    copysign = make_task(func="math.copysign", group="signs")
    modf = make_task(func="math.modf", group="fractions-2")
    searches = {
        "copysign": [copysign],
        "MODF": [modf],
        "fractions": [modf],
        copysign.name: [copysign],
        modf.pk: [modf],
        "no such task": [],
    }
    for term, expected in searches.items():
        page = admin_client.get(SUCCESSES, {"q": term}).content.decode()
        shown = [task for task in (copysign, modf) if task.name in page]
        assert shown == expected, term


def test_group_filter_links_recent_groups_and_takes_any_group(admin_client):
    make_task(group="alpha")
    beta = make_task(group="beta")
    old = make_task(group="old", stopped=timezone.now() - datetime.timedelta(days=30))
    page = admin_client.get(SUCCESSES).content.decode()
    assert "?group=alpha" in page
    assert "?group=beta" in page

    filtered = admin_client.get(SUCCESSES, {"group": "beta", "q": "task"}).content.decode()
    assert beta.name in filtered
    assert old.name not in filtered
    # The box for any group id keeps the search when it is submitted.
    assert '<input type="hidden" name="q" value="task">' in filtered
    assert 'name="group" value="beta"' in filtered

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("qcompat.admin.GroupFilter.newest_rows", 1)
        only_old = admin_client.get(SUCCESSES, {"group": "old"}).content.decode()
    assert old.name in only_old
    assert "?group=old" in only_old


def test_stopped_date_filter(admin_client):
    recent = make_task()
    old = make_task(stopped=timezone.now() - datetime.timedelta(days=30))
    since = (timezone.now() - datetime.timedelta(days=7)).isoformat()
    page = admin_client.get(f"{SUCCESSES}?{urlencode({'stopped__gte': since})}").content.decode()
    assert recent.name in page
    assert old.name not in page


def test_lists_are_read_only(admin_client):
    task = make_task()
    assert admin_client.get(f"{SUCCESSES}add/").status_code == 403
    change_url = f"{SUCCESSES}{task.pk}/change/"
    page = admin_client.get(change_url).content.decode()
    assert "View successful task" in page
    assert 'name="_save"' not in page
    assert admin_client.post(change_url, {"func": "os.system"}).status_code == 403
    assert Task.objects.get(pk=task.pk).func == "tests.jobs.add"


def test_detail_pages_show_values_preformatted_and_escaped(admin_client):
    task = make_task(
        args=("<script>alert(1)</script>",),
        kwargs={"html": "<b>bold</b>"},
        result={"items": ["<i>", 2]},
    )
    page = admin_client.get(f"{SUCCESSES}{task.pk}/change/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert (
        '<pre class="qcompat-value">(&#x27;&lt;script&gt;alert(1)&lt;/script&gt;&#x27;,)</pre>'
        in page
    )
    assert "{&#x27;html&#x27;: &#x27;&lt;b&gt;bold&lt;/b&gt;&#x27;}" in page
    assert "{&#x27;items&#x27;: [&#x27;&lt;i&gt;&#x27;, 2]}" in page

    traceback = 'Traceback (most recent call last):\n  File "<x>", line 1\nValueError: <bad>\n'
    failed = make_task(
        success=False,
        result=f"<bad> : {traceback}",
        exception={"exc_type": "ValueError", "exc_message": ["<bad>"], "exc_module": "builtins"},
    )
    page = admin_client.get(f"{FAILURES}{failed.pk}/change/").content.decode()
    assert '<pre class="qcompat-value">ValueError: &lt;bad&gt;</pre>' in page
    assert (
        '<pre class="qcompat-value">Traceback (most recent call last):\n'
        "  File &quot;&lt;x&gt;&quot;, line 1\nValueError: &lt;bad&gt;\n</pre>"
    ) in page


def test_lists_make_no_query_per_row_and_skip_pickled_columns(admin_client):
    def queries(url: str) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(url).status_code == 200
        return [query["sql"] for query in captured.captured_queries]

    for _ in range(3):
        make_task()
        make_task(success=False)
    few = {url: queries(url) for url in (SUCCESSES, FAILURES)}
    for i in range(30):
        make_task(group=f"g{i}")
        make_task(success=False, group=f"g{i}")
    for url in (SUCCESSES, FAILURES):
        many = queries(url)
        assert len(many) == len(few[url])
        # One query reads the rows, and it is also the one that told how many there are.
        [page_query] = [sql for sql in many if '"qcompat_task"."name"' in sql]
        assert '"qcompat_task"."args"' not in page_query
        assert '"qcompat_task"."exception"' not in page_query
        assert ('"qcompat_task"."result"' in page_query) is (url == FAILURES)
        assert "DISTINCT" not in " ".join(many)


def test_count_is_exact_up_to_the_limit_then_bounded(admin_client, monkeypatch):
    for _ in range(4):
        make_task()
    monkeypatch.setattr(LargeTablePaginator, "exact_limit", 10)
    assert "4 successful tasks" in admin_client.get(SUCCESSES).content.decode()
    monkeypatch.setattr(LargeTablePaginator, "exact_limit", 2)
    paginator = LargeTablePaginator(Success.objects.all(), 1)
    if connection.vendor == "postgresql":
        # The planner's estimate, or the limit when the estimate is too low to believe.
        assert paginator.count >= 2
        assert str(paginator.count_prefix) in {"about", "more than"}
    else:
        assert paginator.count == 4
        assert paginator.count_prefix == ""


def test_pages_split_the_list(admin_client):
    for _ in range(105):
        make_task()
    first = admin_client.get(SUCCESSES).content.decode()
    second = admin_client.get(SUCCESSES, {"p": 2}).content.decode()
    assert first.count('class="action-select"') == 100
    assert second.count('class="action-select"') == 5
    assert "105 successful tasks" in first


def test_resubmit_success_keeps_function_arguments_hook_and_group(admin_client, settings):
    settings.Q_CLUSTER = {"sync": True}
    original = make_task(
        func="tests.jobs.echo",
        args=(1, "two"),
        # Keyword arguments named like options are the function's, not options.
        kwargs={"group": "for the function", "timeout": 3},
        hook="tests.jobs.return_none",
        group="resubmitted",
    )
    response = run_action(admin_client, SUCCESSES, "resubmit", original)
    assert "Resubmitted 1 task." in response.content.decode()
    assert Task.objects.filter(pk=original.pk).exists()
    copy = Task.objects.exclude(pk=original.pk).get()
    assert copy.func == "tests.jobs.echo"
    assert copy.args == (1, "two")
    assert copy.kwargs == {"group": "for the function", "timeout": 3}
    assert copy.hook == "tests.jobs.return_none"
    assert copy.group == "resubmitted"
    assert copy.result == ((1, "two"), {"group": "for the function", "timeout": 3})


def test_resubmitted_failure_leaves_the_failed_list(admin_client, settings):
    settings.Q_CLUSTER = {"sync": True}
    fixed = make_task(success=False, func="tests.jobs.add", args=(2, 3))
    still_failing = make_task(success=False, func="tests.jobs.fail", args=("again",))
    response = run_action(admin_client, FAILURES, "resubmit", fixed, still_failing)
    assert "Resubmitted 2 tasks." in response.content.decode()
    assert not Task.objects.filter(pk__in=[fixed.pk, still_failing.pk]).exists()
    assert Success.objects.get().result == 5
    assert Failure.objects.get().result.startswith("again : Traceback")


def test_rows_signed_with_a_retired_key_stay_listed_shown_and_deletable(admin_client):
    withheld = "Not shown: this value was signed with a key that is in neither SECRET_KEY"
    with override_settings(SECRET_KEY="a key since retired"):
        old_success = make_task(args=("old",))
        old_failure = make_task(success=False)
    current = make_task(success=False)

    failures = admin_client.get(FAILURES).content.decode()
    assert old_failure.name in failures
    assert current.name in failures
    assert failures.count(withheld) == 1
    for url, task in ((SUCCESSES, old_success), (FAILURES, old_failure)):
        page = admin_client.get(f"{url}{task.pk}/change/").content.decode()
        assert task.name in page
        assert withheld in page
    assert (
        "ValueError: boom" in admin_client.get(f"{FAILURES}{current.pk}/change/").content.decode()
    )

    response = run_action(admin_client, FAILURES, "resubmit", old_failure)
    assert (
        f"Task {old_failure.name} could not be resubmitted: its arguments were signed with a key"
        in response.content.decode()
    )
    assert Task.objects.filter(pk=old_failure.pk).exists()
    assert Task.objects.count() == 3

    for url, task in ((SUCCESSES, old_success), (FAILURES, old_failure)):
        data = {"action": "delete_selected", ACTION_CHECKBOX_NAME: [task.pk], "post": "yes"}
        assert admin_client.post(url, data, follow=True).status_code == 200
    assert list(Task.objects.values_list("pk", flat=True)) == [current.pk]


def test_viewers_without_change_permission_cannot_act(client):
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_success"))
    client.force_login(viewer)
    task = make_task()
    page = client.get(SUCCESSES).content.decode()
    assert task.name in page
    assert "Resubmit selected tasks" not in page
    assert "Revoke tasks" not in page
    assert client.get(f"{SUCCESSES}revoke/").status_code == 403
    assert run_action(client, SUCCESSES, "resubmit", task).status_code == 200
    assert Task.objects.count() == 1


def test_revoke_sends_the_ids_and_says_which_had_finished(admin_client, monkeypatch):
    finished = make_task(success=False)
    sent = []
    monkeypatch.setattr(
        execute.app.control, "revoke", lambda ids, **options: sent.append((ids, options))
    )
    response = admin_client.post(
        f"{FAILURES}revoke/",
        {"ids": f"queued-1\n{finished.pk}  queued-1", "held": ["queued-2"], "terminate": "on"},
        follow=True,
    )
    page = response.content.decode()
    assert sent == [(["queued-1", finished.pk, "queued-2"], {"terminate": True})]
    assert "Asked the workers to revoke 3 tasks." in page
    assert "1 of them had already finished" in page

    response = admin_client.post(f"{FAILURES}revoke/", {"ids": " "}, follow=True)
    assert "Enter or select at least one task id." in response.content.decode()
    assert len(sent) == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_resubmit_through_a_worker(worker, admin_client):
    failed = make_task(success=False, func="math.copysign", args=(3, -1), group="again")
    run_action(admin_client, FAILURES, "resubmit", failed)
    assert not Task.objects.filter(pk=failed.pk).exists()
    deadline = time.monotonic() + WAIT_MS / 1000
    while not Success.objects.filter(group="again").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert Success.objects.get(group="again").result == -3.0


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_revoke_a_task_a_worker_holds(worker, admin_client):
    # Both worker processes nap, so the next task waits inside the worker.
    naps = [async_task("tests.jobs.nap", 5) for _ in range(2)]
    waiting = async_task("tests.jobs.add", 1, 1)
    deadline = time.monotonic() + 15
    page = ""
    while waiting not in page and time.monotonic() < deadline:
        page = admin_client.get(f"{SUCCESSES}revoke/").content.decode()
    assert waiting in page
    assert "waiting in the worker" in page
    assert "tests.jobs.add" in page

    response = admin_client.post(f"{SUCCESSES}revoke/", {"held": [waiting]}, follow=True)
    assert "Asked the workers to revoke 1 task." in response.content.decode()
    task = fetch(waiting, wait=WAIT_MS)
    assert task.success is False
    assert task.exception["exc_type"] == "TaskRevokedError"
    assert [result(nap, wait=WAIT_MS) for nap in naps] == [5, 5]
