from django.db import models


class HookCall(models.Model):
    """One call of a test hook, with what the hook saw of its task."""

    task_id = models.CharField(max_length=255)
    hook = models.CharField(max_length=100)
    success = models.BooleanField()
    result = models.TextField()
    #: Whether a fresh query, on the hook's own connection, found the task's row.
    row_committed = models.BooleanField()
    queue = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.hook} for {self.task_id}"


class SignalCall(models.Model):
    """One Django Q signal received in a worker process."""

    signal = models.CharField(max_length=30)
    task_id = models.CharField(max_length=255)
    func = models.CharField(max_length=256)
    payload = models.JSONField()

    def __str__(self) -> str:
        return f"{self.signal} for {self.task_id}"
