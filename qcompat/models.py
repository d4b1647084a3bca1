"""The ``Task`` table, where every finished task is stored, and its two proxies."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext_lazy as _

from qcompat.fields import SignedPickleField


class TaskQuerySet(models.QuerySet["Task"]):
    def successful(self) -> TaskQuerySet:
        return self.filter(success=True)

    def failed(self) -> TaskQuerySet:
        return self.filter(success=False)

    def in_group(self, group_id: str, failures: bool = True) -> TaskQuerySet:
        tasks = self.filter(group=group_id)
        return tasks if failures else tasks.successful()

    def in_enqueue_order(self) -> TaskQuerySet:
        return self.order_by("started", "id")

    def by_id_or_name(self, task_id: str) -> Task | None:
        """The task with this id, else the newest task with this name."""
        task: Task | None = self.filter(pk=task_id).first()
        if task is None:
            task = self.filter(name=task_id).order_by("-stopped").first()
        return task


class TaskManager(models.Manager.from_queryset(TaskQuerySet)):  # type: ignore[misc]
    def store_result(self, task_id: str, fields: dict[str, Any]) -> bool:
        """Write a finished task; return True when this call created its row.

        This is the only place qcompat writes a task. It is idempotent, because a
        broker may deliver a task twice and Celery may store a failure twice: a
        success is never overwritten, and a failure that is stored again (or
        followed by a success) updates the row and counts one more attempt.
        """
        using = self.db
        try:
            if transaction.get_connection(using).in_atomic_block:
                with transaction.atomic(using=using):
                    self.create(id=task_id, attempt_count=1, **fields)
            else:
                # On a worker: one autocommit INSERT, without BEGIN and COMMIT round trips.
                self.create(id=task_id, attempt_count=1, **fields)
            return True
        except IntegrityError:
            pass
        with transaction.atomic(using=using):
            existing = self.select_for_update().filter(pk=task_id, success=False).first()
            if existing is not None:
                for column in ("result", "exception", "stopped", "success"):
                    setattr(existing, column, fields[column])
                existing.attempt_count += 1
                existing.save(
                    update_fields=["result", "exception", "stopped", "success", "attempt_count"]
                )
        return False

    def prune_successes(self, keep: int) -> int:
        """Delete all but the newest ``keep`` successful tasks outside any group.

        Grouped tasks are left alone: groups, chains and iterations count their
        members, and losing one would leave them waiting forever.
        """
        stale = list(
            self.filter(success=True, group=None)
            .order_by("-stopped")
            .values_list("pk", flat=True)[keep:]
        )
        if not stale:
            return 0
        deleted: int = self.filter(pk__in=stale).delete()[0]
        return deleted


class Task(models.Model):
    """A task that has finished: its function, arguments, result and timing."""

    id = models.CharField(_("id"), max_length=255, primary_key=True, editable=False)
    name = models.CharField(_("name"), max_length=100, editable=False)
    func = models.CharField(_("function"), max_length=256)
    hook = models.CharField(_("hook"), max_length=256, null=True, blank=True)
    args = SignedPickleField(_("args"), null=True)
    kwargs = SignedPickleField(_("kwargs"), null=True)
    result = SignedPickleField(_("result"), null=True)
    exception = models.JSONField(
        _("exception"),
        null=True,
        editable=False,
        help_text=_("The exception of a failed task, as Celery serializes it."),
    )
    group = models.CharField(_("group"), max_length=100, null=True, editable=False)
    started = models.DateTimeField(_("started"), editable=False)
    stopped = models.DateTimeField(_("stopped"), editable=False)
    success = models.BooleanField(_("success"), default=True, editable=False)
    attempt_count = models.IntegerField(_("attempt count"), default=0)

    objects: ClassVar[TaskManager] = TaskManager()

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        ordering = ("-stopped",)
        indexes = (
            models.Index(fields=["group", "started"], name="qcompat_task_group_idx"),
            models.Index(fields=["name"], name="qcompat_task_name_idx"),
            models.Index(fields=["success", "-stopped"], name="qcompat_task_success_idx"),
        )

    def __str__(self) -> str:
        return self.name or self.id

    def time_taken(self) -> float:
        """Seconds from enqueueing to the end of execution, queue wait included."""
        return (self.stopped - self.started).total_seconds()

    def group_result(self, failures: bool = False) -> list[Any] | None:
        """The results of this task's group, or None if it has no group."""
        return None if self.group is None else self.get_result_group(self.group, failures)

    def group_count(self, failures: bool = False) -> int | None:
        """How many tasks this task's group has (failures only if asked), or None."""
        return None if self.group is None else self.get_group_count(self.group, failures)

    def group_delete(self, tasks: bool = False) -> int | None:
        """Remove this task's group label (or its tasks too); None if it has no group."""
        return None if self.group is None else self.delete_group(self.group, objects=tasks)

    @classmethod
    def get_result(cls, task_id: str) -> Any:
        """The result of the task with this id or name, or None."""
        task = cls.get_task(task_id)
        return None if task is None else task.result

    @classmethod
    def get_task(cls, task_id: str) -> Task | None:
        """The task with this id, else the newest with this name, else None."""
        task: Task | None = cls.objects.by_id_or_name(task_id)
        return task

    @classmethod
    def get_task_group(cls, group_id: str, failures: bool = True) -> TaskQuerySet:
        """The group's tasks in enqueue order; without failures if ``failures`` is False."""
        tasks: TaskQuerySet = cls.objects.in_group(group_id, failures).in_enqueue_order()
        return tasks

    @classmethod
    def get_result_group(cls, group_id: str, failures: bool = False) -> list[Any]:
        """The group's results in enqueue order; failures only if ``failures``."""
        return list(cls.get_task_group(group_id, failures).values_list("result", flat=True))

    @classmethod
    def get_group_count(cls, group_id: str, failures: bool = False) -> int:
        """How many tasks the group has; only its failures if ``failures``."""
        tasks: TaskQuerySet = cls.objects.filter(group=group_id)
        return (tasks.failed() if failures else tasks).count()

    @classmethod
    def delete_group(cls, group_id: str, objects: bool = False) -> int:
        """Remove the group label, or delete the tasks with ``objects``; returns how many."""
        tasks: TaskQuerySet = cls.objects.filter(group=group_id)
        if objects:
            deleted, _per_model = tasks.delete()
            return deleted
        return tasks.update(group=None)


class SuccessManager(TaskManager):
    def get_queryset(self) -> TaskQuerySet:
        return super().get_queryset().successful()  # type: ignore[no-any-return]


class FailureManager(TaskManager):
    def get_queryset(self) -> TaskQuerySet:
        return super().get_queryset().failed()  # type: ignore[no-any-return]


class Success(Task):
    objects: ClassVar[TaskManager] = SuccessManager()

    class Meta:
        proxy = True
        verbose_name = _("successful task")
        verbose_name_plural = _("successful tasks")
        ordering = ("-stopped",)


class Failure(Task):
    objects: ClassVar[TaskManager] = FailureManager()

    class Meta:
        proxy = True
        verbose_name = _("failed task")
        verbose_name_plural = _("failed tasks")
        ordering = ("-stopped",)
