"""Request/reply command helpers shared by every service: typed fields out of a JSON body, and
domain errors turned into CommandError codes a lane or a partner can act on."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from uuid import UUID

from tillstream.service import CommandError

ErrorTypes = type[BaseException] | tuple[type[BaseException], ...]


def text(body: Mapping[str, Any], key: str) -> str:
    """A required non-empty string field."""
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise CommandError(f"{key} must be a non-empty string", "invalid")
    return value


def integer(body: Mapping[str, Any], key: str) -> int:
    """A required integer field (JSON true/false are not integers here)."""
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise CommandError(f"{key} must be an integer", "invalid")
    return value


def uuid(body: Mapping[str, Any], key: str) -> UUID:
    """A required UUID field."""
    try:
        return UUID(text(body, key))
    except ValueError as exc:
        raise CommandError(f"{key} must be a UUID", "invalid") from exc


class refusals(contextlib.ContextDecorator):
    """Map errors to one-word codes: `with refusals({NotFoundError: "not_found"}): ...`, or
    as a decorator of a command handler. The first matching entry wins, so list subclasses
    before their base classes; a KeyError (a missing field) is "invalid"."""

    def __init__(self, codes: Mapping[ErrorTypes, str]) -> None:
        self.codes = list(codes.items())

    def __enter__(self) -> refusals:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or isinstance(exc, CommandError):
            return
        for types, code in self.codes:
            if isinstance(exc, types):
                raise CommandError(str(exc), code) from exc
        if isinstance(exc, KeyError):
            raise CommandError(f"missing field {exc.args[0]!r}", "invalid") from exc
