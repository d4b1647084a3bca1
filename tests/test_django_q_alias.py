"""Unmodified Django Q code, ``from django_q.tasks import async_task, result`` and all, on qcompat.

django-q2 is installed in the test environment (the import command's tests need it),
so each test runs a subprocess in which a ``sitecustomize`` hides it, as if it were
uninstalled. The Django Q code lives in a folder of its own, written as a project
written for Django Q has it.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from django.core.exceptions import ImproperlyConfigured

from qcompat import django_q_alias
from qcompat.models import Success, Task
from tests.conftest import WorkerProcess
from tests.project_processes import project_env, run_python

HIDE_DJANGO_Q = '''
import sys


class HideDjangoQ:
    """Makes the installed django_q package unimportable, as if it were uninstalled."""

    def find_spec(self, name, path=None, target=None):
        if name == "django_q" or name.startswith("django_q."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, HideDjangoQ())
'''

LEGACY_JOBS = '''
"""Tasks written for Django Q; not one line changed."""

from django_q.models import Failure, Success, Task
from django_q.tasks import async_task, fetch, result


def double(value):
    # Runs on the worker, which imported this module, django_q imports and all.
    return value * 2


def run_in_process():
    task_id = async_task("math.copysign", 2, -2, sync=True)
    failed = async_task("math.sqrt", "four", sync=True)
    return {
        "result": result(task_id),
        "saved": Success.objects.filter(pk=task_id).exists(),
        "failed": Failure.objects.filter(pk=failed).exists(),
        "model": Task.__module__,
    }


def run_on_worker():
    task_id = async_task("legacy_jobs.double", 21)
    return {"result": result(task_id, 30000), "func": fetch(task_id).func}
'''


@pytest.fixture
def legacy(tmp_path):
    """Paths to put first on PYTHONPATH: the hiding sitecustomize, and the Django Q code."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(HIDE_DJANGO_Q)
    code = tmp_path / "legacy"
    code.mkdir()
    (code / "legacy_jobs.py").write_text(LEGACY_JOBS)
    return hide, code


def run(code, env, setup=True):
    done = run_python(textwrap.dedent(code), env, setup=setup)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.django_db(transaction=True)
def test_django_q_code_runs_tasks_in_process(legacy):
    env = project_env("tests.settings_alias", *legacy)
    outcome = run("import json, legacy_jobs; print(json.dumps(legacy_jobs.run_in_process()))", env)
    assert outcome == {"result": -2.0, "saved": True, "failed": True, "model": "qcompat.models"}
    assert Success.objects.filter(func="math.copysign").count() == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_django_q_code_runs_tasks_on_a_worker(legacy, redis_broker, tmp_path):
    env = project_env("tests.settings_alias", *legacy)
    worker = WorkerProcess(
        "no-backend",
        tmp_path / "worker.log",
        env={
            "DJANGO_SETTINGS_MODULE": env["DJANGO_SETTINGS_MODULE"],
            "PYTHONPATH": env["PYTHONPATH"],
        },
        queues=("-alias",),
    )
    worker.start()
    try:
        outcome = run(
            f"""
            import json
            from tests.celery_app import no_backend
            # The project's Celery app, sending to the queue of the worker started above.
            no_backend.conf.task_default_queue = {worker.queues[0]!r}
            no_backend.set_current()
            import legacy_jobs
            print(json.dumps(legacy_jobs.run_on_worker()))
            """,
            env,
        )
    finally:
        worker.stop()
    assert outcome == {"result": 42, "func": "legacy_jobs.double"}, worker.log()
    assert Task.objects.get(func="legacy_jobs.double").result == 42


def test_the_aliases_are_qcompats_own_modules(legacy):
    outcome = run(
        """
        import json
        import django_q, django_q.models, django_q.signals, django_q.tasks
        import qcompat, qcompat.models, qcompat.signals, qcompat.tasks
        from django_q import async_task, humanhash, models, tasks
        from django_q.humanhash import humanize
        print(json.dumps({
            "tasks": django_q.tasks is qcompat.tasks is tasks,
            "models": django_q.models is qcompat.models is models,
            "signals": django_q.signals is qcompat.signals,
            "top_level": async_task is qcompat.async_task,
            "async": getattr(django_q.tasks, "async") is qcompat.async_task,
            "name": humanize("0b86cb58d30c422c9cbdf3a2f9324665"),
            "humanhash": humanhash.humanize is humanize,
            "qcompat_spec": qcompat.tasks.__spec__.name,
        }))
        """,
        project_env("tests.settings_alias", *legacy),
    )
    assert outcome == {
        "tasks": True,
        "models": True,
        "signals": True,
        "top_level": True,
        "async": True,
        "name": "california-pluto-kentucky-uranus",
        "humanhash": True,
        "qcompat_spec": "qcompat.tasks",
    }


def test_install_at_start_up_opts_in_without_the_setting(legacy):
    outcome = run(
        """
        import json
        from qcompat.django_q_alias import install
        install()
        import django
        django.setup()
        from django_q.tasks import async_task
        import qcompat
        print(json.dumps(async_task is qcompat.async_task))
        """,
        project_env("tests.settings", *legacy),
        setup=False,
    )
    assert outcome is True


def test_nothing_is_aliased_without_opting_in(legacy):
    done = run_python("import django_q", project_env("tests.settings", *legacy))
    assert done.returncode == 1
    assert "ModuleNotFoundError: No module named 'django_q'" in done.stderr


def test_modules_without_a_counterpart_say_what_to_use(legacy):
    done = run_python("import django_q.brokers", project_env("tests.settings_alias", *legacy))
    assert done.returncode == 1
    assert (
        "ModuleNotFoundError: django_q.brokers has no counterpart in qcompat, which stands in "
        "for django_q. Celery connects to the broker in CELERY_BROKER_URL" in done.stderr
    )
    done = run_python(
        "from django_q.models import Schedule", project_env("tests.settings_alias", *legacy)
    )
    assert "ImportError: cannot import name 'Schedule' from 'qcompat.models'" in done.stderr


def test_django_q_left_in_installed_apps_is_explained(legacy):
    code = "from qcompat.django_q_alias import install\ninstall()\nimport django\ndjango.setup()"
    done = run_python(code, project_env("tests.settings_djangoq", *legacy), setup=False)
    assert done.returncode == 1
    assert (
        "ImproperlyConfigured: INSTALLED_APPS lists django_q, which qcompat stands in for; "
        "replace it with 'qcompat'." in done.stderr
    )


def test_an_installed_django_q_is_refused_at_start_up(tmp_path):
    done = run_python("", project_env("tests.settings_alias"))
    assert done.returncode == 1
    assert (
        "ImproperlyConfigured: qcompat cannot stand in for django_q because the django_q "
        "package is installed (" in done.stderr
    )
    assert "Uninstall django-q or django-q2, or import from qcompat" in done.stderr


def test_an_installed_django_q_is_refused_in_process():
    # django-q2 is installed here, for the import command's tests.
    with pytest.raises(ImproperlyConfigured, match="the django_q package is installed"):
        django_q_alias.install()
    assert not django_q_alias.installed()
