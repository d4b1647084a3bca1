"""The exceptions qcompat raises. Every message is a full sentence."""

from __future__ import annotations


class QCompatError(Exception):
    """Base class of qcompat's own errors; never raised directly."""


class InvalidTaskFunction(QCompatError, TypeError):
    """A task function or hook cannot be named by an importable dotted path."""


class ArgumentsNotSerializable(QCompatError, TypeError):
    """A task's arguments cannot be serialized, so nothing was enqueued."""


class InvalidOption(QCompatError, TypeError):
    """An option passed to ``async_task`` is unknown or has a wrong value."""


class InvalidTaskId(QCompatError, TypeError):
    """A task id or name has a type that no task can have."""


class SignatureMismatch(QCompatError, ValueError):
    """Signed data failed its signature check and was not unpickled."""
