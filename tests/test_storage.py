"""Signed pickle, the task table's writes, the result backend and the migration."""

from __future__ import annotations

import pickle
from io import StringIO

import pytest
from celery import states
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from qcompat import async_task, fetch, serializers
from qcompat.backends import TaskBackend
from qcompat.exceptions import SignatureMismatch
from qcompat.models import Task
from qcompat.worker import execute


def test_signed_pickle_round_trip_and_refusals():
    data = serializers.dumps({"a": (1, 2)})
    assert serializers.loads(data) == {"a": (1, 2)}
    tampered = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(SignatureMismatch, match="does not match SECRET_KEY"):
        serializers.loads(tampered)
    with pytest.raises(SignatureMismatch, match="not qcompat signed pickle"):
        serializers.loads(pickle.dumps({"a": 1}))


def test_rotated_keys_still_verify_through_fallbacks():
    with override_settings(SECRET_KEY="old-key"):
        data = serializers.dumps("kept")
    with override_settings(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=["old-key"]):
        assert serializers.loads(data) == "kept"
    with (
        override_settings(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=[]),
        pytest.raises(SignatureMismatch),
    ):
        serializers.loads(data)


@pytest.mark.django_db
def test_a_tampered_column_is_refused_not_unpickled():
    task_id = async_task("tests.jobs.add", 1, 1, sync=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE qcompat_task SET result = %s WHERE id = %s",
            [pickle.dumps("forged"), task_id],
        )
    with pytest.raises(SignatureMismatch):
        fetch(task_id)


def store_fields(success: bool, result: object) -> dict[str, object]:
    now = timezone.now()
    return {
        "name": "n",
        "func": "f.g",
        "hook": None,
        "group": None,
        "args": (),
        "kwargs": {},
        "result": result,
        "exception": None,
        "started": now,
        "stopped": now,
        "success": success,
    }


@pytest.mark.django_db
def test_store_never_overwrites_a_success_and_counts_failed_attempts():
    assert Task.objects.store_result("t1", store_fields(False, "first failure")) is True
    assert Task.objects.store_result("t1", store_fields(False, "second failure")) is False
    task = Task.objects.get(pk="t1")
    assert (task.result, task.attempt_count) == ("second failure", 2)
    assert Task.objects.store_result("t1", store_fields(True, 42)) is False
    assert Task.objects.store_result("t1", store_fields(False, "late failure")) is False
    task = Task.objects.get(pk="t1")
    assert (task.success, task.result, task.attempt_count) == (True, 42, 3)


@pytest.mark.django_db
def test_backend_ignores_states_that_are_not_final():
    backend = TaskBackend(app=execute.app)
    backend.store_result("t-started", None, states.STARTED)
    backend.store_result("t-retry", None, states.RETRY)
    assert not Task.objects.exists()
    assert backend.get_task_meta("t-started")["status"] == states.PENDING


@pytest.mark.django_db
def test_backend_forget_and_revoked_state():
    backend = TaskBackend(app=execute.app)
    task_id = async_task("tests.jobs.add", 1, 1, sync=True)
    backend.forget(task_id)
    assert fetch(task_id) is None
    backend.mark_as_revoked("t-revoked", reason="revoked")
    assert backend.get_task_meta("t-revoked")["status"] == states.REVOKED
    assert fetch("t-revoked").success is False


@pytest.mark.django_db
def test_migrations_are_complete():
    output = StringIO()
    call_command("makemigrations", "qcompat", "--check", "--dry-run", stdout=output)
    assert "No changes detected" in output.getvalue()
