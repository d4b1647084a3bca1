"""Django Q's ``Q_CLUSTER`` read as Celery settings, the checks that report what has no
equivalent, and a plain ``celery worker`` that follows ``Q_CLUSTER`` too."""

from __future__ import annotations

import os
import sys

import pytest
from celery import Celery
from django.apps import apps
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from qcompat import cluster, conf
from qcompat.checks import HINTS, check_q_cluster
from tests.project_processes import Service, project_env
from tests.qcluster_project import observe
from tests.qcluster_project.settings import QUEUE

FULL = {
    "name": "legacy",
    "workers": 4,
    "recycle": 500,
    "max_rss": 200_000,
    "timeout": 60,
    "retry": 90,
    "ack_failures": False,
    "sync": False,
    "save_limit": 250,
    "label": "Legacy tasks",
    "log_level": "WARNING",
}


@pytest.fixture(autouse=True)
def no_project_app(monkeypatch):
    """Checks compare Q_CLUSTER with the project's Celery app; here there is none, unless a
    test gives one."""
    monkeypatch.setattr("qcompat.management.celery_app.project_app", lambda: None)


def make_app(**preset):
    """A Celery app of its own; ``preset`` plays the project's own Celery settings."""
    app = Celery("mapping-test", set_as_current=False, fixups=[])
    app.conf.update(preset)
    return app


def test_each_key_maps_to_its_celery_setting():
    with override_settings(Q_CLUSTER=FULL):
        assert conf.celery_settings() == {
            "worker_concurrency": 4,
            "worker_max_tasks_per_child": 500,
            "worker_max_memory_per_child": 200_000,
            "task_acks_late": True,
            "broker_transport_options": {"visibility_timeout": 90},
            "task_acks_on_failure_or_timeout": False,
            "task_default_queue": "legacy",
        }
        assert conf.worker_arguments() == ["--loglevel", "WARNING"]
        assert conf.default_timeout() == 60.0
        assert conf.sync_by_default() is False
        assert conf.save_limit() == 250
        assert conf.admin_label() == "Legacy tasks"


def test_no_q_cluster_maps_nothing():
    assert conf.celery_settings() == {}
    assert conf.worker_arguments() == ["--loglevel", "INFO"]
    assert conf.default_timeout() is None
    assert conf.save_limit() == 0
    assert conf.queue_name() is None


def test_settings_are_read_at_call_time():
    with override_settings(Q_CLUSTER={"workers": 2}):
        assert conf.celery_settings() == {"worker_concurrency": 2}
    with override_settings(Q_CLUSTER={"workers": 3}):
        assert conf.celery_settings() == {"worker_concurrency": 3}


@pytest.mark.parametrize(
    ("q_cluster", "queue"),
    [({"name": "site"}, "site"), ({"name": "site", "cluster_name": "long"}, "long")],
)
def test_cluster_name_is_the_queue_and_name_its_default(q_cluster, queue):
    with override_settings(Q_CLUSTER=q_cluster):
        assert conf.celery_settings()["task_default_queue"] == queue


def test_zero_keeps_the_default_as_in_django_q():
    with override_settings(Q_CLUSTER={"workers": 0, "recycle": 0, "max_rss": 0}):
        assert conf.celery_settings() == {}


@pytest.mark.parametrize(
    ("q_cluster", "message"),
    [
        ({"workers": -1}, r"Q_CLUSTER\['workers'\] must be a whole number of at least 0, not -1\."),
        ({"workers": True}, r"Q_CLUSTER\['workers'\] must be a whole number"),
        ({"recycle": -1}, r"Q_CLUSTER\['recycle'\] must be a whole number of at least 0"),
        ({"max_rss": 1.5}, r"Q_CLUSTER\['max_rss'\] must be a whole number"),
        ({"retry": 0}, r"Q_CLUSTER\['retry'\] must be a positive number of seconds, not 0\."),
        ({"timeout": "60"}, r"Q_CLUSTER\['timeout'\] must be a positive number of seconds"),
        ({"ack_failures": 1}, r"Q_CLUSTER\['ack_failures'\] must be True or False, not 1\."),
        ({"name": ""}, r"Q_CLUSTER\['name'\] must be a non-empty string"),
        ({"log_level": "LOUD"}, r"Q_CLUSTER\['log_level'\] must be one of DEBUG, INFO"),
        ({"save_limit": -2}, r"Q_CLUSTER\['save_limit'\] must be a whole number of at least -1"),
    ],
)
def test_values_django_q_would_refuse_are_refused(q_cluster, message):
    with override_settings(Q_CLUSTER=q_cluster), pytest.raises(ImproperlyConfigured, match=message):
        conf.celery_settings()


def test_q_cluster_must_be_a_dict():
    with (
        override_settings(Q_CLUSTER=["workers", 4]),
        pytest.raises(ImproperlyConfigured, match=r"The Q_CLUSTER setting must be a dictionary\."),
    ):
        conf.q_cluster()


def test_apply_sets_what_the_project_did_not_set():
    app = make_app(worker_concurrency=8, broker_transport_options={"fanout_prefix": True})
    with override_settings(Q_CLUSTER=FULL):
        applied = cluster.apply_to_app(app)
    assert app.conf.worker_concurrency == 8
    assert "worker_concurrency" not in applied
    assert app.conf.worker_max_tasks_per_child == 500
    assert app.conf.worker_max_memory_per_child == 200_000
    assert app.conf.task_acks_late is True
    assert app.conf.task_acks_on_failure_or_timeout is False
    assert app.conf.task_default_queue == "legacy"
    assert app.conf.broker_transport_options == {"fanout_prefix": True, "visibility_timeout": 90}


def test_apply_again_follows_q_cluster_but_never_the_projects_settings():
    app = make_app(task_acks_late=False)
    with override_settings(Q_CLUSTER={"workers": 2, "retry": 30}):
        cluster.apply_to_app(app)
    with override_settings(Q_CLUSTER={"workers": 3, "retry": 40}):
        cluster.apply_to_app(app)
    assert app.conf.worker_concurrency == 3
    assert app.conf.broker_transport_options == {"visibility_timeout": 40}
    assert app.conf.task_acks_late is False


def test_a_project_visibility_timeout_wins_over_retry():
    app = make_app(broker_transport_options={"visibility_timeout": 3600})
    with override_settings(Q_CLUSTER={"retry": 90}):
        cluster.apply_to_app(app)
        assert cluster.overridden(app) == [
            ("retry", "broker_transport_options['visibility_timeout']", 90, 3600)
        ]
    assert app.conf.broker_transport_options == {"visibility_timeout": 3600}
    assert app.conf.task_acks_late is True


def test_apply_without_q_cluster_leaves_the_app_alone():
    app = make_app()
    assert cluster.apply_to_app(app) == {}
    assert app.conf.worker_concurrency is None
    assert app.conf.task_default_queue == "celery"


def _messages(q_cluster, **kwargs):
    with override_settings(Q_CLUSTER=q_cluster):
        return check_q_cluster(None, **kwargs)


def test_every_key_without_an_equivalent_is_reported_with_a_hint():
    q_cluster = {key: None for key in HINTS} | {"workers": 2}
    messages = _messages(q_cluster)
    reported = {message.msg.split("'")[1]: message for message in messages}
    assert set(reported) == set(HINTS)
    for key, message in reported.items():
        assert isinstance(message, checks.Warning)
        assert message.id == "qcompat.W001"
        assert message.msg == f"Q_CLUSTER['{key}'] has no Celery equivalent; qcompat ignores it."
        assert message.hint == HINTS[key]
        assert message.hint.endswith(".")


def test_broker_keys_point_to_celery_broker_url():
    [orm, redis] = _messages({"orm": "default", "redis": {"host": "localhost"}})
    assert "CELERY_BROKER_URL" in orm.hint
    assert "CELERY_BROKER_URL" in redis.hint


def test_mapped_keys_are_not_reported():
    assert _messages({key: value for key, value in FULL.items() if key != "retry"}) == []


def test_unknown_keys_are_reported():
    [message] = _messages({"wokers": 4})
    assert message.id == "qcompat.W002"
    assert message.msg == "Q_CLUSTER['wokers'] is not a Django Q setting; qcompat ignores it."
    assert "workers" in message.hint


@pytest.mark.parametrize(
    ("q_cluster", "reported"),
    [
        ({"retry": 60}, True),
        ({"retry": 60, "timeout": 60}, True),
        ({"retry": 60, "timeout": 90}, True),
        ({"retry": 120, "timeout": 90}, False),
        ({"timeout": 90}, False),
    ],
)
def test_retry_not_longer_than_timeout_is_reported(q_cluster, reported):
    messages = [message for message in _messages(q_cluster) if message.id == "qcompat.W003"]
    assert bool(messages) is reported
    if reported:
        assert messages[0].hint == "Set retry larger than timeout, as Django Q asks too."


def test_bad_values_are_errors():
    [message] = _messages({"workers": "four"})
    assert isinstance(message, checks.Error)
    assert message.id == "qcompat.E001"
    assert message.msg.startswith("Q_CLUSTER['workers'] must be a whole number")


def test_projects_own_celery_setting_winning_is_reported(monkeypatch):
    app = make_app(worker_concurrency=8, task_default_queue="celery-own")
    monkeypatch.setattr("qcompat.management.celery_app.project_app", lambda: app)
    messages = _messages({"workers": 2, "cluster_name": "long"})
    assert {message.id for message in messages} == {"qcompat.W004"}
    assert sorted(message.msg for message in messages) == [
        "Q_CLUSTER['cluster_name'] asks for task_default_queue = 'long', but the Celery app "
        "'mapping-test' has task_default_queue = 'celery-own', which wins.",
        "Q_CLUSTER['workers'] asks for worker_concurrency = 2, but the Celery app "
        "'mapping-test' has worker_concurrency = 8, which wins.",
    ]


def test_the_check_is_registered():
    with override_settings(Q_CLUSTER={"cpu_affinity": 1}):
        ids = [message.id for message in checks.run_checks()]
    assert "qcompat.W001" in ids


def test_label_names_the_app_in_the_admin(admin_client):
    config = apps.get_app_config("qcompat")
    assert str(config.verbose_name) == "Tasks"
    with override_settings(Q_CLUSTER={"label": "Legacy tasks"}):
        assert config.verbose_name == "Legacy tasks"
        page = admin_client.get("/admin/").content.decode()
    assert "Legacy tasks" in page
    assert "Legacy tasks" not in admin_client.get("/admin/").content.decode()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_plain_celery_worker_follows_q_cluster_too(redis_broker, tmp_path):
    """``celery -A proj worker``, not qcluster: Q_CLUSTER still sets its pool and queue."""
    hostname = f"plain-{os.getpid()}@qcompat-tests"
    env = project_env("tests.qcluster_project.settings")
    command = [
        sys.executable, "-m", "celery", "-A", "tests.qcluster_project", "worker",
        "--hostname", hostname, "--loglevel", "INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    service = Service(command, env, tmp_path / "worker.log")
    service.start()
    try:
        assert "concurrency: 2 (prefork)" in service.log()
        ids = observe.enqueue(env, 3)
        runs = [observe_result(task_id) for task_id in ids]
        assert len({run["pid"] for run in runs}) == 3
        assert [(run["acks_late"], run["queue"]) for run in runs] == [(True, QUEUE)] * 3
        state = observe.worker_state(hostname)
        assert state["pool"]["max-concurrency"] == 2
        assert state["pool"]["max-tasks-per-child"] == 1
        assert state["conf"]["worker_max_memory_per_child"] == 250_000
        assert state["queues"] == [QUEUE]
        status = service.terminate()
    finally:
        service.kill()
        observe.delete_queue(QUEUE)
    assert status == 0
    assert not service.group_alive()


def observe_result(task_id):
    from qcompat import result

    run = result(task_id, wait=observe.WAIT_MS)
    assert run is not None, f"task {task_id} did not finish"
    return run
