"""``qcompat_rewrite_imports``: Django Q imports rewritten to qcompat's, and nothing else."""

from __future__ import annotations

import io
import textwrap

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from qcompat.management.commands.qcompat_rewrite_imports import Problem, rewrite_source

BEFORE = textwrap.dedent(
    '''\
    """Enqueues with Django Q: from django_q.tasks import async_task, says this docstring."""

    from __future__ import annotations

    import os
    from django_q.tasks import async_task, result  # enqueue, then read
    from django_q.models import (
        Success,  # django_q.models keeps the successes
        Failure,
    )
    from django_q import async_task as enqueue, tasks
    import django_q.tasks as dq_tasks, os.path
    from django_q.humanhash import humanize
    from  django_q . signals  import pre_enqueue
    from \\
        django_q.tasks import fetch

    try:
        from django_q.tasks import async_chain
    except ImportError:
        async_chain = None

    PATH = "django_q.tasks.async_task"  # from django_q.tasks import async_task


    def later():
        from django_q.tasks import count_group

        return count_group
    '''
)

AFTER = textwrap.dedent(
    '''\
    """Enqueues with Django Q: from django_q.tasks import async_task, says this docstring."""

    from __future__ import annotations

    import os
    from qcompat.tasks import async_task, result  # enqueue, then read
    from qcompat.models import (
        Success,  # django_q.models keeps the successes
        Failure,
    )
    from qcompat import async_task as enqueue, tasks
    import qcompat.tasks as dq_tasks, os.path
    from humanhash import humanize
    from  qcompat.signals  import pre_enqueue
    from \\
        qcompat.tasks import fetch

    try:
        from django_q.tasks import async_chain
    except ImportError:
        async_chain = None

    PATH = "django_q.tasks.async_task"  # from django_q.tasks import async_task


    def later():
        from qcompat.tasks import count_group

        return count_group
    '''
)

NEEDS_HANDS = textwrap.dedent(
    """\
    import django_q.tasks
    import django_q
    from django_q.tasks import schedule, async_task
    from django_q.brokers import get_broker
    from django_q import humanhash
    """
)


def available_except_async_chain(module, name):
    # Whether AsyncTask, async_chain... exist depends on what qcompat implements today.
    from qcompat.management.commands.qcompat_rewrite_imports import _available

    return name != "async_chain" and _available(module, name)


def test_only_the_module_names_change():
    outcome = rewrite_source(BEFORE, available_except_async_chain)
    assert outcome.source == AFTER
    assert outcome.changes == 8
    assert outcome.problems == [
        Problem(
            19,
            "async_chain from django_q.tasks has no counterpart in qcompat.tasks; the import "
            "was left as it is.",
        )
    ]


def test_imports_that_need_the_code_changed_are_reported_and_left():
    outcome = rewrite_source(NEEDS_HANDS)
    assert outcome.source == NEEDS_HANDS
    assert outcome.changes == 0
    assert [problem.line for problem in outcome.problems] == [1, 2, 3, 4, 5]
    assert outcome.problems[0].message.startswith("`import django_q.tasks` needs the code")
    assert outcome.problems[2].message == (
        "schedule from django_q.tasks has no counterpart in qcompat.tasks; the import was left "
        "as it is."
    )
    assert outcome.problems[3].message == (
        "django_q.brokers has no counterpart in qcompat; left as it is."
    )


def test_positions_count_characters_not_bytes():
    source = 'greeting = "héllo"; from django_q.tasks import result\n'
    assert rewrite_source(source).source == (
        'greeting = "héllo"; from qcompat.tasks import result\n'
    )


@pytest.mark.django_db
def test_rewritten_code_runs_on_qcompat():
    source = rewrite_source(
        "from django_q.tasks import async_task, result\nfrom django_q.models import Success\n"
    ).source
    namespace = {}
    exec(compile(source, "rewritten.py", "exec"), namespace)  # noqa: S102
    task_id = namespace["async_task"]("math.copysign", 2, -2, sync=True)
    assert namespace["result"](task_id) == -2.0
    assert namespace["Success"].objects.filter(pk=task_id).exists()


@pytest.fixture
def project(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "jobs.py").write_text(
        "from django_q.tasks import async_task\n\nasync_task('math.floor', 1.5)\n"
    )
    (tmp_path / "app" / "clean.py").write_text("from qcompat.tasks import result\n")
    (tmp_path / "app" / "legacy.py").write_text("import django_q.tasks\n")
    (tmp_path / "app" / "broken.py").write_text("from django_q.tasks import (\n")
    for skipped in (".venv", "__pycache__"):
        (tmp_path / skipped).mkdir()
        (tmp_path / skipped / "vendored.py").write_text("from django_q.tasks import result\n")
    (tmp_path / "notes.txt").write_text("from django_q.tasks import result\n")
    return tmp_path


def rewrite(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("qcompat_rewrite_imports", *args, stdout=out, stderr=err)
    except CommandError as error:
        return out.getvalue(), err.getvalue(), error
    return out.getvalue(), err.getvalue(), None


def test_command_rewrites_a_folder_in_place(project):
    out, err, error = rewrite(str(project))
    assert error is None
    jobs = project / "app" / "jobs.py"
    assert (
        jobs.read_text()
        == "from qcompat.tasks import async_task\n\nasync_task('math.floor', 1.5)\n"
    )
    assert f"{jobs}: rewrote 1 import(s)." in out
    assert out.splitlines()[-1] == "Rewrote 1 import(s) in 1 file(s); 1 left to change by hand."
    assert f"{project / 'app' / 'legacy.py'}:1: `import django_q.tasks` needs the code" in err
    assert f"{project / 'app' / 'broken.py'}: skipped, it cannot be parsed (" in err
    for untouched in (".venv/vendored.py", "__pycache__/vendored.py", "notes.txt"):
        assert (project / untouched).read_text() == "from django_q.tasks import result\n"
    out, _err, _error = rewrite(str(project))
    assert out.splitlines()[-1] == "Rewrote 0 import(s) in 0 file(s); 1 left to change by hand."


def test_check_changes_nothing_and_fails_while_django_q_is_imported(project):
    jobs = project / "app" / "jobs.py"
    before = jobs.read_text()
    out, _err, error = rewrite("--check", str(project))
    assert jobs.read_text() == before
    assert out.splitlines()[-1] == (
        "Would rewrite 1 import(s) in 1 file(s); 1 left to change by hand."
    )
    assert error.returncode == 1
    assert str(error) == (
        "1 file(s) still import django_q where qcompat could be imported, and 1 import(s) need "
        "changing by hand."
    )
    _out, _err, error = rewrite("--check", str(project / "app" / "clean.py"))
    assert error is None


def test_diff_prints_the_changes_and_changes_nothing(project):
    jobs = project / "app" / "jobs.py"
    before = jobs.read_text()
    out, _err, error = rewrite("--diff", str(jobs))
    assert error is None
    assert jobs.read_text() == before
    assert f"--- {jobs}\n+++ {jobs}\n" in out
    assert "-from django_q.tasks import async_task\n+from qcompat.tasks import async_task\n" in out


def test_line_endings_encoding_and_bom_are_kept(tmp_path):
    crlf = tmp_path / "crlf.py"
    crlf.write_bytes(b"import os\r\nfrom django_q.tasks import result\r\nx = 1\r\n")
    latin = tmp_path / "latin.py"
    latin.write_bytes(
        b"# -*- coding: latin-1 -*-\nname = '\xe9t\xe9'\nfrom django_q.models import Task\n"
    )
    bom = tmp_path / "bom.py"
    bom.write_bytes(b"\xef\xbb\xbffrom django_q.tasks import fetch\n")
    rewrite(str(tmp_path))
    assert crlf.read_bytes() == b"import os\r\nfrom qcompat.tasks import result\r\nx = 1\r\n"
    assert latin.read_bytes() == (
        b"# -*- coding: latin-1 -*-\nname = '\xe9t\xe9'\nfrom qcompat.models import Task\n"
    )
    assert bom.read_bytes() == b"\xef\xbb\xbffrom qcompat.tasks import fetch\n"


def test_a_path_that_does_not_exist_is_refused(tmp_path):
    with pytest.raises(CommandError, match=r"is neither a file nor a folder\."):
        call_command("qcompat_rewrite_imports", str(tmp_path / "missing"))
