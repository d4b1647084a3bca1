"""``qcluster`` and ``qinfo``, Django Q's commands, end to end through real Celery workers."""

from __future__ import annotations

import io
import os
import re
import sys
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from qcompat import async_task, fetch, result
from tests.project_processes import Service, project_env
from tests.qcluster_project import observe
from tests.qcluster_project.settings import QUEUE

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

QUIET = ["--without-gossip", "--without-mingle", "--without-heartbeat"]


@pytest.fixture
def qcluster(redis_broker, tmp_path):
    """``manage.py qcluster`` for a project whose settings have a Django Q Q_CLUSTER."""
    hostname = f"qcluster-{os.getpid()}@qcompat-tests"
    command = [sys.executable, "-m", "django", "qcluster", "--", "--hostname", hostname, *QUIET]
    service = Service(command, project_env("tests.qcluster_project.settings"), tmp_path / "log")
    service.hostname = hostname
    service.start()
    try:
        yield service
    finally:
        service.stop()
        observe.delete_queue(QUEUE)


def test_qcluster_runs_tasks_with_q_cluster_mapped_and_stops_on_sigterm(qcluster):
    log = qcluster.log()
    assert "concurrency: 2 (prefork)" in log
    assert f".> {QUEUE} " in log
    # Q_CLUSTER's log_level, INFO, shows each task received.
    ids = observe.enqueue(qcluster.env, 4)
    runs = [result(task_id, wait=observe.WAIT_MS) for task_id in ids]
    assert None not in runs, qcluster.log()
    # recycle=1: every task ran in a fresh process, although the pool has two.
    assert len({run["pid"] for run in runs}) == 4
    for run in runs:
        assert run["queue"] == QUEUE
        assert run["acks_late"] is True
        assert run["acks_on_failure_or_timeout"] is True
        assert run["time_limit"][0] == 30
    assert f"Task tests.qcluster_project.jobs.where_and_how[{ids[0]}] received" in qcluster.log()

    state = observe.worker_state(qcluster.hostname)
    assert state["pool"]["max-concurrency"] == 2
    assert state["pool"]["max-tasks-per-child"] == 1
    assert state["conf"]["worker_max_memory_per_child"] == 250_000
    assert state["conf"]["broker_transport_options"] == {"visibility_timeout": 45}
    assert state["queues"] == [QUEUE]

    assert qcluster.terminate() == 0
    assert not qcluster.group_alive()
    assert "Warm shutdown" in qcluster.log()


def test_qcluster_prints_the_system_checks_first(qcluster):
    log = qcluster.log()
    assert "(qcompat.W001) Q_CLUSTER['orm'] has no Celery equivalent" in log
    assert log.index("qcompat.W001") < log.index(" ready.")


def test_qcluster_name_option_picks_the_queue(redis_broker, tmp_path):
    hostname = f"named-{os.getpid()}@qcompat-tests"
    queue = f"{QUEUE}-named"
    command = [sys.executable, "-m", "django", "qcluster", "--name", queue, "--"]
    service = Service(
        [*command, "--hostname", hostname, *QUIET],
        project_env("tests.qcluster_project.settings"),
        tmp_path / "log",
    )
    service.start()
    try:
        assert observe.worker_state(hostname)["queues"] == [queue]
    finally:
        status = service.terminate()
        service.kill()
        observe.delete_queue(queue)
    assert status == 0


def test_qcluster_refuses_what_is_not_a_celery_app():
    with pytest.raises(CommandError, match=r"'tests\.jobs:add' is a function, not a Celery app\."):
        call_command("qcluster", "--app", "tests.jobs:add")
    with pytest.raises(CommandError, match=r"The Celery app 'no\.such\.module' cannot be imported"):
        call_command("qcluster", "--app", "no.such.module")


def test_qcluster_says_how_to_define_the_app(monkeypatch):
    monkeypatch.setattr("qcompat.management.celery_app.project_app", lambda: None)
    with pytest.raises(CommandError, match=r"No Celery app is defined\. Create one in proj/celery"):
        call_command("qcluster")


def test_qcluster_refuses_a_bad_q_cluster():
    with (
        override_settings(Q_CLUSTER={"workers": "four"}),
        pytest.raises(CommandError, match=r"Q_CLUSTER\['workers'\] must be a whole number"),
    ):
        call_command("qcluster", "--app", "tests.celery_app:no_backend")


def _qinfo(*args):
    out = io.StringIO()
    call_command("qinfo", "--timeout", "2", *args, stdout=out)
    return out.getvalue()


def _cell(output, label):
    return re.search(rf"^(?:.* )?{re.escape(label)}\s+(\S+)", output, re.MULTILINE).group(1)


def _node_line(output, worker):
    return next(line for line in output.splitlines() if line.startswith(worker.hostname))


def _qinfo_once_idle(worker, timeout=10.0):
    # The row is committed inside Celery's trace, a moment before the worker drops the
    # task from its active list, so a stored result can still be reported as running.
    deadline = time.monotonic() + timeout
    while True:
        output = _qinfo()
        running = _node_line(output, worker).split()[3]
        if running == "0" or time.monotonic() > deadline:
            return output
        time.sleep(0.1)


def test_qinfo_shows_workers_queues_and_results(worker):
    ok = async_task("tests.jobs.add", 1, 2)
    failed = async_task("tests.jobs.fail")
    assert result(ok, wait=20_000) == 3
    assert fetch(failed, wait=20_000).success is False

    output = _qinfo_once_idle(worker)
    assert output.startswith("-- qcompat ")
    broker_scheme = worker.app.conf.broker_url.split("://")[0]
    assert f" on {broker_scheme}://" in output.splitlines()[0]
    assert _cell(output, "Successes") == "1"
    assert _cell(output, "Failures") == "1"
    assert _cell(output, "Tasks/day") == "1.00"
    assert int(_cell(output, "Clusters")) >= 1
    assert int(_cell(output, "Workers")) >= 2
    _host, pid, processes, running, done, queues = _node_line(output, worker).split(maxsplit=5)
    assert int(pid) == worker.pid
    assert processes == "2"
    assert running == "0"
    assert int(done) >= 2
    assert set(queues.split(", ")) == set(worker.queues)
    waiting = next(line for line in output.splitlines() if line.startswith(worker.queue + " "))
    assert waiting.split() == [worker.queue, "0"]


def test_qinfo_counts_the_tasks_waiting_in_a_queue(worker):
    control = worker.app.control
    control.cancel_consumer(worker.queue, destination=[worker.hostname], reply=True)
    try:
        ids = [async_task("tests.jobs.add", i, i) for i in range(3)]
        output = _qinfo()
        waiting = next(line for line in output.splitlines() if line.startswith(worker.queue + " "))
        assert waiting.split() == [worker.queue, "3"]
        assert int(_cell(output, "Queued")) >= 3
    finally:
        control.add_consumer(worker.queue, destination=[worker.hostname], reply=True)
    assert [result(task_id, wait=20_000) for task_id in ids] == [0, 2, 4]


def test_qinfo_ids_lists_each_worker_and_its_processes(worker):
    output = _qinfo("--ids")
    line = next(line for line in output.splitlines() if line.startswith(worker.hostname))
    assert f"pid {worker.pid}" in line
    processes = line.split("processes ")[1].split(", ")
    assert len(processes) == 2
    assert all(pid.isdigit() for pid in processes)


def test_qinfo_config_shows_the_mapping():
    q_cluster = {"workers": 3, "retry": 90, "name": "legacy", "log_level": "DEBUG", "bulk": 5}
    with override_settings(Q_CLUSTER=q_cluster):
        output = _qinfo("--config", "--app", "tests.celery_app:no_backend")
    assert "Q_CLUSTER['workers'] = 3\n" in output
    assert "Q_CLUSTER['bulk'] = 5  (ignored: see `manage.py check`)\n" in output
    assert "  worker_concurrency = 3 (app: " in output
    assert "  broker_transport_options = {'visibility_timeout': 90}" in output
    assert "  task_default_queue = 'legacy' (app: " in output
    assert "qcluster adds: --loglevel DEBUG" in output


def test_qinfo_shows_the_default_queue_even_with_no_worker_on_it(redis_broker):
    from tests.celery_app import slow_store

    output = _qinfo("--app", "tests.celery_app:slow_store")
    queue = slow_store.conf.task_default_queue
    assert any(line.split() == [queue, "0"] for line in output.splitlines()), output
    assert _cell(output, "Successes") == "0"
