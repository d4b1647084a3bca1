"""Let unmodified Django Q code import ``django_q``, without django-q installed.

Nothing happens unless the project opts in, in one of two ways:

- the setting ``QCOMPAT_DJANGO_Q_ALIAS = True``. The alias is installed when Django
  creates qcompat's app config, before any app's models are imported. An app whose
  package (not its models or other modules) imports ``django_q`` must come after
  ``"qcompat"`` in ``INSTALLED_APPS``.
- a call to :func:`install` at start-up, before the first import of ``django_q``:
  at the top of ``manage.py``, ``wsgi.py``, ``asgi.py`` and ``proj/celery.py``, say.

Once installed, these modules are the very same objects as their qcompat
counterparts (``django_q.tasks is qcompat.tasks``):

- ``django_q``: ``async_task``, ``result``, ``fetch`` and the other names of ``qcompat``
- ``django_q.tasks``: ``qcompat.tasks``
- ``django_q.models``: ``qcompat.models`` (``Task``, ``Success``, ``Failure``)
- ``django_q.signals``: ``qcompat.signals``
- ``django_q.humanhash``: ``humanhash``, which Django Q's module was copied from

Importing any other ``django_q`` module (``brokers``, ``cluster``, ``conf``...)
raises ``ModuleNotFoundError`` saying what to use instead.

The alias refuses to install while a real ``django_q`` package is importable
(django-q or django-q2): which of the two an import found would depend on the
order of ``sys.path`` and of the imports. Uninstall it first.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured

PACKAGE = "django_q"

#: Each aliased module and the module it stands for.
ALIASES = {
    "django_q": "qcompat",
    "django_q.tasks": "qcompat.tasks",
    "django_q.models": "qcompat.models",
    "django_q.signals": "qcompat.signals",
    "django_q.humanhash": "humanhash",
}

#: What to do instead of importing a Django Q module that has no counterpart.
INSTEAD = {
    "django_q.brokers": (
        "Celery connects to the broker in CELERY_BROKER_URL; pass a kombu Connection as "
        "broker= where Django Q took a broker."
    ),
    "django_q.cluster": "Start workers with `python manage.py qcluster` or `celery worker`.",
    "django_q.conf": "qcompat reads Q_CLUSTER itself; qcompat.conf has what it reads.",
}

_APPS = "django_q.apps"
_LISTED_AS_APP = (
    "INSTALLED_APPS lists django_q, which qcompat stands in for; replace it with 'qcompat'."
)


def _top_level(name: str) -> Any:
    qcompat = importlib.import_module("qcompat")
    if name in qcompat.__all__ or name == "async":
        return getattr(qcompat, name)
    raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}")


class _Loader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        name = module.__name__
        if name == _APPS:
            # Found, so that Django imports it for "django_q" in INSTALLED_APPS and stops
            # there with this message, instead of an obscure one about the package's path.
            raise ImproperlyConfigured(_LISTED_AS_APP)
        if name == PACKAGE:
            # A package of its own rather than qcompat itself: otherwise an unknown
            # django_q.x would be looked for among qcompat's files and load qcompat/x.py
            # a second time, under another name.
            module.__doc__ = "Django Q's names, served by qcompat."
            module.__getattr__ = _top_level  # type: ignore[method-assign]
            module.__all__ = list(importlib.import_module("qcompat").__all__)  # type: ignore[attr-defined]
            return
        # Replacing the entry is how a loader hands over an existing module: the import
        # returns whatever sys.modules holds after exec_module.
        sys.modules[name] = importlib.import_module(ALIASES[name])


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != PACKAGE and not fullname.startswith(PACKAGE + "."):
            return None
        if fullname not in ALIASES and fullname != _APPS:
            instead = INSTEAD.get(fullname, "Import what you need from qcompat.")
            raise ModuleNotFoundError(
                f"{fullname} has no counterpart in qcompat, which stands in for django_q. "
                f"{instead}",
                name=fullname,
            )
        return importlib.util.spec_from_loader(fullname, _Loader(), is_package=fullname == PACKAGE)


_FINDER = _Finder()


def installed() -> bool:
    return _FINDER in sys.meta_path


def install() -> None:
    """Make ``django_q`` and its task modules import qcompat's; idempotent."""
    if installed():
        return
    real = _real_django_q()
    if real is not None:
        raise ImproperlyConfigured(
            f"qcompat cannot stand in for django_q because the django_q package is installed "
            f"({real}). Uninstall django-q or django-q2, or import from qcompat and turn "
            "the alias off."
        )
    _refuse_django_q_app()
    sys.meta_path.insert(0, _FINDER)


def install_if_enabled() -> None:
    """Install the alias if the setting ``QCOMPAT_DJANGO_Q_ALIAS`` is true."""
    from django.conf import settings

    if getattr(settings, "QCOMPAT_DJANGO_Q_ALIAS", False):
        install()


def uninstall() -> None:
    """Remove the alias and forget the ``django_q`` modules it gave out."""
    if installed():
        sys.meta_path.remove(_FINDER)
    for name in list(sys.modules):
        if name == PACKAGE or name.startswith(PACKAGE + "."):
            del sys.modules[name]


def _real_django_q() -> str | None:
    """Where an importable django_q package lives, or None."""
    loaded = sys.modules.get(PACKAGE)
    if loaded is not None:
        return str(getattr(loaded, "__file__", None) or loaded)
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except ImportError:
        return None
    if spec is None:
        return None
    return str(spec.origin or list(spec.submodule_search_locations or ()))


def _refuse_django_q_app() -> None:
    from django.conf import settings

    # While settings.py itself calls install(), the settings are not there to look at yet.
    if not settings.configured:
        return
    if any(app == PACKAGE or app.startswith(PACKAGE + ".") for app in settings.INSTALLED_APPS):
        raise ImproperlyConfigured(_LISTED_AS_APP)
