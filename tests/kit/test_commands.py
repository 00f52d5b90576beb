"""Command helpers: typed fields and refusal codes."""

from __future__ import annotations

from uuid import uuid4

import pytest

from tillstream.commands import integer, refusals, text, uuid
from tillstream.service import CommandError


class NotThereError(Exception):
    pass


class SpecialNotThereError(NotThereError):
    pass


def test_fields_are_typed_and_refused_clearly() -> None:
    sale_id = uuid4()
    body = {"sku": "A1", "quantity": 2, "sale_id": str(sale_id), "flag": True, "empty": ""}
    assert text(body, "sku") == "A1"
    assert integer(body, "quantity") == 2
    assert uuid(body, "sale_id") == sale_id
    for reader, key, message in [
        (text, "empty", "empty must be a non-empty string"),
        (text, "absent", "absent must be a non-empty string"),
        (integer, "flag", "flag must be an integer"),
        (integer, "sku", "sku must be an integer"),
        (uuid, "sku", "sku must be a UUID"),
    ]:
        with pytest.raises(CommandError, match=message) as caught:
            reader(body, key)
        assert caught.value.code == "invalid"


def test_refusals_map_errors_in_order_as_context_and_decorator() -> None:
    codes = refusals({SpecialNotThereError: "special", NotThereError: "not_found"})
    with pytest.raises(CommandError) as caught, codes:
        raise SpecialNotThereError("sale 1")
    assert (caught.value.code, str(caught.value)) == ("special", "sale 1")

    @codes
    def handler(body: dict[str, str]) -> dict[str, str]:
        if body.get("missing"):
            return {"x": body["nope"]}
        raise NotThereError("no such sale")

    assert handler.__name__ == "handler"
    with pytest.raises(CommandError) as caught:
        handler({})
    assert caught.value.code == "not_found"
    with pytest.raises(CommandError, match="missing field 'nope'") as caught:
        handler({"missing": "yes"})
    assert caught.value.code == "invalid"
    with pytest.raises(ZeroDivisionError), codes:  # not mapped: passes through
        _ = 1 / 0
