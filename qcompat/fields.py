"""A model field that stores any picklable value as signed pickle."""

from __future__ import annotations

from typing import Any

from django.db import models

from qcompat import serializers


class SignedPickleField(models.BinaryField):  # type: ignore[type-arg]
    """Holds Python values (tuples, sets, datetimes, model instances...) in a binary column.

    Every stored value is signed; a value whose signature does not verify raises
    :class:`~qcompat.exceptions.SignatureMismatch` instead of being unpickled.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        return serializers.loads(value)

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return serializers.dumps(value)

    def to_python(self, value: Any) -> Any:
        return value

    def value_to_string(self, obj: models.Model) -> str:
        return repr(self.value_from_object(obj))
