"""Signed pickle: the only form in which qcompat ever unpickles anything.

Task messages and the ``args``/``kwargs``/``result`` columns carry values as a
pickle prefixed with an HMAC-SHA256 keyed from ``SECRET_KEY`` (and
``SECRET_KEY_FALLBACKS``, so that keys can be rotated). Data whose signature
does not verify is refused before ``pickle.loads`` ever sees it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import pickle
from typing import Any

from django.conf import settings
from django.utils.encoding import force_bytes
from kombu.serialization import register

from qcompat.exceptions import SignatureMismatch

SERIALIZER_NAME = "qcompat-signed-pickle"
CONTENT_TYPE = "application/x-qcompat-signed-pickle"

_MAGIC = b"QC1"
_SALT = "qcompat.serializers.signed-pickle"
_MAC_SIZE = 32


@functools.lru_cache(maxsize=8)
def _key(secret: str | bytes) -> bytes:
    # Django's salted_hmac derivation, done once per secret rather than once per message.
    return hashlib.sha256(_SALT.encode() + force_bytes(secret)).digest()


def _mac(payload: bytes, secret: str | bytes | None = None) -> bytes:
    return hmac.digest(_key(settings.SECRET_KEY if secret is None else secret), payload, "sha256")


def dumps(value: Any) -> bytes:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _MAGIC + _mac(payload) + payload


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    if isinstance(data, str):
        # kombu hands text to decoders of some transports; latin-1 maps it back byte for byte.
        data = data.encode("latin-1")
    data = bytes(data)
    header, mac, payload = (
        data[: len(_MAGIC)],
        data[len(_MAGIC) : len(_MAGIC) + _MAC_SIZE],
        data[len(_MAGIC) + _MAC_SIZE :],
    )
    if header != _MAGIC:
        raise SignatureMismatch("The data is not qcompat signed pickle; it was not unpickled.")
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ())]
    if not any(hmac.compare_digest(mac, _mac(payload, secret)) for secret in secrets):
        raise SignatureMismatch(
            "The signature of qcompat signed pickle data does not match SECRET_KEY or "
            "SECRET_KEY_FALLBACKS; it was not unpickled."
        )
    return pickle.loads(payload)


def register_with_kombu() -> None:
    register(
        SERIALIZER_NAME,
        dumps,  # type: ignore[arg-type]  # kombu's stubs assume text; binary is documented
        loads,
        content_type=CONTENT_TYPE,
        content_encoding="binary",
    )
