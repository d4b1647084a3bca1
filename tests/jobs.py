"""Functions the tests enqueue; a worker imports them by their dotted path."""

import dataclasses
import decimal
import time
from pathlib import Path

from celery import current_task


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


def add(a, b):
    return a + b


def echo(*args, **kwargs):
    return args, kwargs


def echo_types(value, option=None):
    """Return the value together with its type, as the worker saw it."""
    return value, type(value).__name__


def fail(message="boom"):
    raise ValueError(message)


def nap(seconds):
    time.sleep(seconds)
    return seconds


def return_none():
    return None


def routed_where():
    return current_task.request.delivery_info.get("routing_key")


def touch(path):
    Path(path).write_text("executed")
    return path


def price(amount: decimal.Decimal) -> decimal.Decimal:
    return amount * 2


class Maths:
    @staticmethod
    def double(value):
        return value * 2

    @classmethod
    def triple(cls, value):
        return value * 3

    def instance_method(self, value):
        return value


def not_picklable_result():
    return lambda: None
