"""Naming functions by dotted path, and finding them again from one."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

from qcompat.exceptions import InvalidTaskFunction


def dotted_path(func: str | Callable[..., Any], role: str = "task function") -> str:
    """Return the path a worker imports ``func`` by, or raise if there is none.

    A string is taken as a path and checked only for its shape: it may name a
    module the calling process cannot import, and the worker records that as a
    failed task, as Django Q does.
    """
    if isinstance(func, str):
        if "." not in func.strip(".") or func != func.strip():
            raise InvalidTaskFunction(
                f"The {role} {func!r} is not a dotted path such as 'package.module.function'."
            )
        return func
    if not callable(func):
        raise InvalidTaskFunction(
            f"The {role} must be a dotted path or an importable callable, "
            f"not {type(func).__name__}."
        )
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not module or not qualname:
        raise InvalidTaskFunction(f"The {role} {func!r} has no module and name to import it by.")
    path = f"{module}.{qualname}"
    if "<lambda>" in qualname or "<locals>" in qualname:
        raise InvalidTaskFunction(
            f"The {role} {path} is a lambda or a nested function, which a worker cannot import; "
            "define it at module level."
        )
    try:
        found = import_by_path(path)
    except ImportError as error:
        raise InvalidTaskFunction(
            f"The {role} {path} cannot be imported by its path ({error}); "
            "define it at module level."
        ) from error
    if found != func:
        raise InvalidTaskFunction(
            f"The {role} {func!r} is not what its path {path} imports (a bound method of an "
            "instance, or a decorated function that hides its origin); pass a module-level "
            "function or its dotted path."
        )
    return path


@functools.lru_cache(maxsize=1024)
def import_by_path(path: str) -> Callable[..., Any]:
    """Import ``module.attribute[.attribute...]``, trying the longest module prefix first."""
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            target: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            # Only a missing module at this very prefix means "try a shorter one".
            if error.name is not None and (
                module_name == error.name or module_name.startswith(error.name + ".")
            ):
                continue
            raise
        try:
            for attribute in parts[split:]:
                target = getattr(target, attribute)
        except AttributeError as error:
            raise ImportError(f"Module {module_name!r} has no attribute path {path!r}.") from error
        if not callable(target):
            raise ImportError(f"{path} is not callable.")
        return target  # type: ignore[no-any-return]
    raise ImportError(f"No module named {parts[0]!r}.")
