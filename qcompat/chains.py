"""Chains: functions run one after the other, each once the previous one is saved.

Like Django Q, and unlike a Celery ``chain``, a chain goes on after a link
fails, and every link is stored in the chain's group. Celery's own chain is
not used for that reason, and because it sends the next link before the
previous link's result is stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from django.db import transaction
from kombu import Connection, Producer

from qcompat import conf, results
from qcompat.callables import dotted_path
from qcompat.enqueue import Call, enqueue, unpack_chain
from qcompat.models import TaskQuerySet
from qcompat.options import Options


def _link(item: Any) -> Call:
    """Read one of Django Q's link forms: ``func``, ``(func,)``, ``(func, args)`` or
    ``(func, args, kwargs)``."""
    if not isinstance(item, tuple | list):
        return (item, (), {})
    func, *rest = item
    args = tuple(rest[0]) if rest else ()
    kwargs = dict(rest[1]) if len(rest) > 1 else {}
    return (func, args, kwargs)


def async_chain(
    chain: Sequence[Any],
    group: str | None = None,
    sync: bool | None = None,
    broker: Connection | Producer | None = None,
) -> str:
    """Run the links of ``chain`` in order; return the chain's group id."""
    links = [_link(item) for item in chain]
    if not links:
        raise ValueError("A chain needs at least one link.")
    # Every path is checked now, so that a bad link fails here and not halfway through.
    links = [(dotted_path(func), args, kwargs) for func, args, kwargs in links]
    group = group or uuid.uuid4().hex
    options = Options(
        group=group,
        timeout=conf.default_timeout(),
        sync=conf.sync_by_default() if sync is None else sync,
        save=True,
        connection=broker,
    )
    _start(links, options)
    return group


def _start(links: Sequence[Call], options: Options) -> None:
    (func, args, kwargs), rest = links[0], links[1:]
    enqueue(str(func), args, kwargs, options, chain=rest)


def continue_chain(packed: str, group: str | None, *, inline: bool, using: str) -> None:
    """Start the next link, once the link that carried ``packed`` has been saved."""
    links = unpack_chain(packed)
    options = Options(group=group, timeout=conf.default_timeout(), sync=inline, save=True)
    if inline:
        _start(links, options)
    else:
        transaction.on_commit(lambda: _start(links, options), using=using)


class Chain:
    """Django Q's ``Chain``: build a chain with ``append``, then ``run`` it."""

    def __init__(
        self,
        chain: Sequence[Any] | None = None,
        group: str | None = None,
        sync: bool | None = None,
        broker: Connection | Producer | None = None,
    ) -> None:
        self.chain: list[Call] = [_link(item) for item in chain or ()]
        self.group = group or uuid.uuid4().hex
        self.sync = sync
        self.broker = broker
        self.started = False

    def append(self, func: str | Callable[..., Any], *args: Any, **kwargs: Any) -> int:
        """Add a link; after a run, start over with a fresh group label. Returns the length."""
        if self.started:
            results.delete_group(self.group)
            self.started = False
        self.chain.append((func, args, kwargs))
        return self.length()

    def run(self) -> str:
        """Start the chain; return its group id."""
        self.group = async_chain(self.chain, group=self.group, sync=self.sync, broker=self.broker)
        self.started = True
        return self.group

    def result(self, wait: float = 0) -> list[Any] | None:
        """The successful links' results, in order; with ``wait``, waits for the whole chain."""
        if not self.started:
            return None
        return results.result_group(self.group, wait=wait, count=self.length())

    def fetch(self, failures: bool = True, wait: float = 0) -> TaskQuerySet | None:
        """The links' tasks, in order; None before ``run``."""
        if not self.started:
            return None
        return results.fetch_group(self.group, failures=failures, wait=wait, count=self.length())

    def current(self) -> int | None:
        """How many links have finished."""
        return results.count_group(self.group) if self.started else None

    def length(self) -> int:
        """How many links the chain has."""
        return len(self.chain)
