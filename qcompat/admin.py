"""The admin pages Django Q users know: "Successful tasks" and "Failed tasks".

As in Django Q, the ``Success`` and ``Failure`` proxies are registered, not
``Task``. Both lists are read-only and stay fast on tables of millions of
rows: they never count the whole table, the group filter never reads every
distinct group, and the pickled columns are unpickled only where a page shows
them. A row whose signature no longer verifies (its key left
``SECRET_KEY_FALLBACKS``) is still listed, shown and deletable; only its
pickled values are withheld.
"""

from __future__ import annotations

import pprint
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import BinaryField, ExpressionWrapper, F, Field, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.defaultfilters import truncatechars
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.functional import Promise, cached_property
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from qcompat import conf, serializers
from qcompat.enqueue import async_task
from qcompat.exceptions import SignatureMismatch
from qcompat.models import Failure, Success, Task
from qcompat.options import DJANGO_Q_KEYS
from qcompat.worker import execute

_TASK_ID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")
_TRACEBACK_START = "Traceback (most recent call last):"
_PICKLED_COLUMNS = ("args", "kwargs", "result")
_UNREADABLE = _(
    "Not shown: this value was signed with a key that is in neither SECRET_KEY nor "
    "SECRET_KEY_FALLBACKS."
)


def with_stored_bytes(queryset: QuerySet[Any], columns: tuple[str, ...]) -> QuerySet[Any]:
    """``queryset`` with each pickled column read as bytes, left for :func:`stored_value`.

    Unpickling while rows load would make one row signed with a retired key break
    the whole page.
    """
    raw: dict[str, Any] = {
        f"stored_{column}": ExpressionWrapper(F(column), output_field=BinaryField())
        for column in columns
    }
    annotated: QuerySet[Any] = queryset.defer(*columns).annotate(**raw)
    return annotated


def stored_value(task: Task, column: str) -> Any:
    """The unpickled value of a column loaded by :func:`with_stored_bytes`.

    Raises :class:`~qcompat.exceptions.SignatureMismatch` when its signature does not verify.
    """
    raw = getattr(task, f"stored_{column}")
    return None if raw is None else serializers.loads(raw)


def shown(task: Task, column: str, render: Callable[[Any], str] = str) -> str:
    try:
        return str(render(stored_value(task, column)))
    except SignatureMismatch:
        return str(_UNREADABLE)


def planner_estimate(queryset: QuerySet[Any]) -> int | None:
    """PostgreSQL's estimate of how many rows ``queryset`` has; None on other databases."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        # The SQL is the ORM's own, with its parameters passed separately.
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    return int(plan[0]["Plan"]["Plan Rows"])


class LargeTablePaginator(Paginator):  # type: ignore[type-arg]
    """Counts exactly up to ``exact_limit`` rows; past that, PostgreSQL's planner estimates.

    An exact ``COUNT(*)`` over millions of rows would run on every page view.
    ``count_prefix`` tells the page how to read a count that is not exact.
    """

    exact_limit = 10_000
    count_prefix: str | Promise = ""

    @cached_property
    def first_page(self) -> list[Any]:
        """The first page and one row more, which tells whether there is a second page."""
        return list(self.object_list[: self.per_page + 1])

    @cached_property
    def count(self) -> int:
        if len(self.first_page) <= self.per_page:
            return len(self.first_page)
        queryset: QuerySet[Any] = self.object_list  # type: ignore[assignment]
        # Without ORDER BY, the database stops reading at the first exact_limit + 1 matches.
        capped = queryset.order_by()[: self.exact_limit + 1].count()
        if capped <= self.exact_limit:
            return capped
        estimate = planner_estimate(queryset)
        if estimate is None:
            return queryset.count()
        if estimate > capped:
            self.count_prefix = _("about")
            return estimate
        # The planner guessed too low (a substring search, say): say only what is known.
        self.count_prefix = _("more than")
        return self.exact_limit


class GroupFilter(admin.SimpleListFilter):
    """A box for any group id, and links to the groups of the newest tasks.

    Listing every group, as Django's default filter does, would read the whole
    table with ``SELECT DISTINCT`` on every page view.
    """

    title = _("group")
    parameter_name = "group"
    template = "admin/qcompat/group_filter.html"
    newest_rows = 1000
    links = 10

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        newest = model_admin.get_queryset(request).order_by("-stopped")
        groups = newest.values_list("group", flat=True)[: self.newest_rows]
        shown = list(dict.fromkeys(group for group in groups if group))[: self.links]
        if self.value() and self.value() not in shown:
            shown.append(self.value())
        return [(group, group) for group in shown]

    def has_output(self) -> bool:
        return True

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(group=self.value()) if self.value() else queryset

    def choices(self, changelist: ChangeList) -> Iterator[Any]:
        # The box submits a GET form, which has to carry the list's other parameters along.
        self.other_params = sorted(
            (name, value)
            for name, value in changelist.params.items()
            if name != self.parameter_name
        )
        yield from super().choices(changelist)


class TaskChangeList(ChangeList):
    paginator: LargeTablePaginator

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        # The paginator read the first page while counting. Reading it again would repeat
        # a scan of the whole table when a search matches few tasks.
        if not self.multi_page or (self.page_num == 1 and not self.show_all):
            self.result_list = self.paginator.first_page[: self.list_per_page]

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> Any:
        queryset = (
            super().get_queryset(request, exclude_parameters).defer(*_PICKLED_COLUMNS, "exception")
        )
        return with_stored_bytes(queryset, cast("TaskAdminBase", self.model_admin).shown_in_list)


def _pre(value: str) -> str:
    return format_html('<pre class="qcompat-value">{}</pre>', value)


class TaskAdminBase(admin.ModelAdmin):  # type: ignore[type-arg]
    """What both lists share. Acting on tasks (resubmit, revoke) needs the change permission."""

    search_fields = ("name", "func", "group")
    search_help_text = _(
        "Search by name, function or group. An exact task id or name is found at once; "
        "other text is looked for in every task."
    )
    list_filter = (GroupFilter, ("stopped", admin.DateFieldListFilter))
    # Sorting by an unindexed column would sort the whole table.
    sortable_by = ("stopped",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = LargeTablePaginator
    actions = ("resubmit",)
    change_list_template = "admin/qcompat/change_list.html"
    # The pickled columns the list shows; it reads no other pickled column.
    shown_in_list: tuple[str, ...] = ()
    outcome_title = _("Result")
    outcome_fields: tuple[str, ...] = ()

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return TaskChangeList

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Task | None:
        queryset = with_stored_bytes(self.get_queryset(request), _PICKLED_COLUMNS)
        field = cast(
            "Field[Any, Any]", self.opts.get_field(from_field) if from_field else self.opts.pk
        )
        try:
            return cast(Task, queryset.get(**{field.name: field.to_python(object_id)}))
        except (self.model.DoesNotExist, ValidationError, ValueError):
            return None

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return [
            (None, {"fields": ("name", "id", "func", "hook", "group", "attempt_count")}),
            (_("Timing"), {"fields": ("started", "stopped", "time_taken")}),
            (_("Arguments"), {"fields": ("arguments", "keyword_arguments")}),
            (self.outcome_title, {"fields": self.outcome_fields}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return flatten_fieldsets(self.get_fieldsets(request, obj))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_resubmit_permission(self, request: HttpRequest) -> bool:
        codename = get_permission_codename("change", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        # A pasted id or name takes an index instead of a substring scan of the whole table.
        term = search_term.strip()
        if _TASK_ID.fullmatch(term):
            return queryset.filter(pk=term), False
        named = queryset.filter(name=term)
        if term and named.exists():
            return named, False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description=_("time taken (s)"))
    def time_taken(self, task: Task) -> str:
        return f"{task.time_taken():.3f}"

    @admin.display(description=_("args"))
    def arguments(self, task: Task) -> str:
        return _pre(shown(task, "args", pprint.pformat))

    @admin.display(description=_("kwargs"))
    def keyword_arguments(self, task: Task) -> str:
        return _pre(shown(task, "kwargs", pprint.pformat))

    @admin.action(description=_("Resubmit selected tasks"), permissions=["resubmit"])
    def resubmit(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """Enqueue each task again under a new id; a resubmitted failure leaves the list."""
        resubmitted = 0
        for task in with_stored_bytes(queryset, ("args", "kwargs")).order_by("started"):
            # Every option goes through q_options, so that stored keyword arguments named
            # like an option (group, timeout...) reach the function again.
            options = dict.fromkeys(DJANGO_Q_KEYS) | {
                "hook": task.hook,
                "group": task.group,
                "timeout": conf.default_timeout(),
            }
            try:
                args = stored_value(task, "args") or ()
                kwargs = stored_value(task, "kwargs") or {}
                async_task(task.func, *args, q_options=options, **kwargs)
            except SignatureMismatch:
                text = _(
                    "Task %(name)s could not be resubmitted: its arguments were signed "
                    "with a key that is in neither SECRET_KEY nor SECRET_KEY_FALLBACKS."
                )
                self.message_user(request, text % {"name": task}, messages.ERROR)
                break
            except Exception as error:
                text = _("Task %(name)s could not be resubmitted: %(error)s")
                self.message_user(request, text % {"name": task, "error": error}, messages.ERROR)
                break
            if not task.success:
                task.delete()
            resubmitted += 1
        if resubmitted:
            self.message_user(
                request,
                ngettext("Resubmitted %d task.", "Resubmitted %d tasks.", resubmitted)
                % resubmitted,
                messages.SUCCESS,
            )

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}_revoke"
        revoke = path("revoke/", self.admin_site.admin_view(self.revoke_view), name=name)
        return [revoke, *super().get_urls()]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {"may_revoke": self.has_resubmit_permission(request), **(extra_context or {})}
        return super().changelist_view(request, context)

    def revoke_view(self, request: HttpRequest) -> HttpResponse:
        """Revoke task ids that Celery still holds: queued, reserved by a worker, or running.

        A finished task is already in the table, and revoking it changes nothing.
        Workers remember revoked ids in memory (on disk only with ``--statedb``),
        so a worker started after the revoke runs the task anyway.
        """
        if not self.has_resubmit_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            ids = list(
                dict.fromkeys(request.POST.get("ids", "").split() + request.POST.getlist("held"))
            )
            if not ids:
                self.message_user(
                    request, _("Enter or select at least one task id."), messages.WARNING
                )
                return HttpResponseRedirect(request.path)
            terminate = request.POST.get("terminate") == "on"
            execute.app.control.revoke(ids, terminate=terminate)
            finished = Task.objects.filter(pk__in=ids).count()
            text = ngettext(
                "Asked the workers to revoke %(count)d task.",
                "Asked the workers to revoke %(count)d tasks.",
                len(ids),
            ) % {"count": len(ids)}
            if finished:
                text += " " + ngettext(
                    "%(count)d of them had already finished; revoking it changes nothing.",
                    "%(count)d of them had already finished; revoking them changes nothing.",
                    finished,
                ) % {"count": finished}
            self.message_user(request, text, messages.SUCCESS)
            return HttpResponseRedirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Revoke tasks"),
            "held": held_by_workers(),
        }
        return TemplateResponse(request, "admin/qcompat/revoke.html", context)


def held_by_workers(timeout: float = 1.0) -> list[dict[str, Any]]:
    """The tasks running now or waiting inside a worker, as the workers report them.

    Tasks still in the broker's queue are not listed: only the broker holds them.
    """
    control = execute.app.control

    def ask(kind: str) -> list[dict[str, Any]]:
        replies = getattr(control.inspect(timeout=timeout), kind)(safe=True) or {}
        state = _("running") if kind == "active" else _("waiting in the worker")
        return [
            {**task, "state": state, "worker": worker}
            for worker, tasks in replies.items()
            for task in tasks
        ]

    # Each question waits out the whole timeout for replies; asking both at once halves it.
    with ThreadPoolExecutor(max_workers=2) as pool:
        return [task for tasks in pool.map(ask, ("active", "reserved")) for task in tasks]


@admin.register(Success)
class TaskAdmin(TaskAdminBase):
    list_display = ("name", "func", "group", "started", "stopped", "time_taken")
    outcome_fields = ("result_value",)

    @admin.display(description=_("result"))
    def result_value(self, task: Task) -> str:
        return _pre(shown(task, "result", pprint.pformat))


@admin.register(Failure)
class FailAdmin(TaskAdminBase):
    list_display = ("name", "func", "group", "started", "stopped", "short_result")
    shown_in_list = ("result",)
    outcome_title = _("Error")
    outcome_fields = ("error", "traceback")

    @admin.display(description=_("result"))
    def short_result(self, task: Task) -> str:
        return truncatechars(shown(task, "result"), 100)

    @admin.display(description=_("error"))
    def error(self, task: Task) -> str:
        message = shown(task, "result").partition(f" : {_TRACEBACK_START}")[0]
        exc_type = (task.exception or {}).get("exc_type")
        return _pre(f"{exc_type}: {message}" if exc_type else message)

    @admin.display(description=_("traceback"))
    def traceback(self, task: Task) -> str:
        _message, found, rest = shown(task, "result").partition(f" : {_TRACEBACK_START}")
        return _pre(_TRACEBACK_START + rest) if found else "-"
