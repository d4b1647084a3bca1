"""``qcompat_import_djangoq`` on a ``django_q_task`` table made and filled by django-q2 itself.

django-q2's migrations and model run in a subprocess (``tests.djangoq_history``), on the
test database, so ``django_q`` never joins this process's apps.
"""

from __future__ import annotations

import base64
import io
import pickle
import subprocess
import sys
import zlib

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from qcompat import fetch_group, result
from qcompat.management.commands.qcompat_import_djangoq import decode_pickled
from qcompat.models import Failure, Success, Task
from tests.djangoq_history import (
    COMPRESSED_TASK,
    HISTORY,
    LOST_CLASS,
    NOT_BASE64,
    USER_TASK,
    at,
)
from tests.project_processes import ROOT, project_env, run_django

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def djangoq_table(django_db_setup):
    """Django Q's tables in the test database, with its task history; dropped afterwards."""
    env = project_env("tests.settings_djangoq")
    made = subprocess.run(
        [sys.executable, "-m", "tests.djangoq_history"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    yield
    dropped = run_django("migrate", "django_q", "zero", "--verbosity", "0", env=env)
    assert dropped.returncode == 0, dropped.stderr
    assert "django_q" not in sys.modules


def run_import(*args):
    """Run the command; return its output, errors, and the CommandError it ended with."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("qcompat_import_djangoq", *args, stdout=out, stderr=err)
    except CommandError as error:
        return out.getvalue(), err.getvalue(), error
    return out.getvalue(), err.getvalue(), None


def test_history_is_copied_with_its_python_types(djangoq_table):
    out, _err, _error = run_import("--batch-size", "3")
    assert "Read 8 rows of django_q_task in database 'default': imported 6, " in out
    for task_id, fields in HISTORY.items():
        task = Task.objects.get(pk=task_id)
        for name, value in fields.items():
            assert getattr(task, name) == value, (task_id, name)
            assert type(getattr(task, name)) is type(value), (task_id, name)
        assert task.exception is None
    assert Task.objects.get(pk=COMPRESSED_TASK).args == (1, 2)
    user = Task.objects.get(pk=USER_TASK).result
    assert isinstance(user, User)
    assert user.username == "history-user"
    # Reading through the Django Q API finds the imported tasks by id, name and group.
    assert result("0b86cb58d30c422c9cbdf3a2f9324665") == -2.0
    assert result("california-pluto-kentucky-uranus") == -2.0
    maths = fetch_group("maths")
    assert [task.func for task in maths] == ["math.copysign", "operator.truediv"]
    assert Failure.objects.get().name == "failed-division"
    assert Success.objects.count() == 5
    assert Task.objects.get(pk=USER_TASK).started == at(5)


def test_rows_that_cannot_be_decoded_are_reported_and_skipped(djangoq_table):
    out, _err, error = run_import()
    assert "imported 6, 0 were already imported, 2 could not be imported." in out
    assert f"  {NOT_BASE64}: args cannot be unpickled: it is not base64 (" in out
    assert (
        f"  {LOST_CLASS}: result cannot be unpickled: No module named 'tests.no_such_module'."
        in out
    )
    assert error is not None
    assert error.returncode == 1
    assert str(error) == (
        "2 of 8 rows could not be imported; they are listed above. Running the command again "
        "retries them."
    )
    assert not Task.objects.filter(pk__in=[NOT_BASE64, LOST_CLASS]).exists()


def _snapshot():
    return [
        (task.pk, task.name, task.args, task.kwargs, repr(task.result), task.stopped)
        for task in Task.objects.order_by("pk")
    ]


def test_running_it_again_changes_nothing(djangoq_table):
    run_import()
    before = _snapshot()
    out, _err, _error = run_import("--batch-size", "2")
    assert "imported 0, 6 were already imported, 2 could not be imported." in out
    assert _snapshot() == before


def test_a_task_qcompat_already_has_is_kept(djangoq_table):
    task_id = "0b86cb58d30c422c9cbdf3a2f9324665"
    Task.objects.create(
        id=task_id, name="kept", func="math.copysign", args=(3, -3), kwargs={}, result=-3.0,
        started=at(9), stopped=at(9, 1), success=True, attempt_count=1,
    )  # fmt: skip
    out, _err, _error = run_import()
    assert "imported 5, 1 were already imported" in out
    assert result(task_id) == -3.0


def test_progress_bar_goes_to_stderr(djangoq_table):
    _out, err, _error = run_import("--batch-size", "3")
    assert err.splitlines() == [
        "Importing django_q_task [###########-------------------]  38% 3/8",
        "Importing django_q_task [######################--------]  75% 6/8",
        "Importing django_q_task [##############################] 100% 8/8",
    ]
    _out, err, _error = run_import("--no-progress")
    assert err == ""


def test_what_is_not_django_qs_table_is_refused(djangoq_table):
    with pytest.raises(CommandError, match="There is no table no_such_table in database"):
        call_command("qcompat_import_djangoq", "--table", "no_such_table")
    with pytest.raises(CommandError, match=r"There is no database 'elsewhere' in DATABASES\."):
        call_command("qcompat_import_djangoq", "--database", "elsewhere")
    with pytest.raises(CommandError, match="auth_group in database 'default' is not Django Q's"):
        call_command("qcompat_import_djangoq", "--table", "auth_group")
    with pytest.raises(CommandError, match=r"--batch-size must be at least 1\."):
        call_command("qcompat_import_djangoq", "--batch-size", "0")


def test_picklefield_values_decode_without_picklefield(monkeypatch):
    from picklefield.fields import _ObjectWrapper, dbsafe_encode

    wrapped = dbsafe_encode(_ObjectWrapper({"a": 1}), pickle_protocol=-1)
    compressed = dbsafe_encode((1, "two"), compress_object=True)
    # As if django-picklefield were not installed: its wrapper class cannot be imported.
    monkeypatch.setitem(sys.modules, "picklefield", None)
    monkeypatch.setitem(sys.modules, "picklefield.fields", None)
    assert decode_pickled(str(wrapped)) == {"a": 1}
    assert decode_pickled(str(compressed)) == (1, "two")
    assert decode_pickled(None) is None
    plain = base64.b64encode(pickle.dumps({1, 2}, protocol=2))
    assert decode_pickled(memoryview(plain)) == {1, 2}
    with pytest.raises(zlib.error):
        decode_pickled(base64.b64encode(b"\x78garbage").decode())
