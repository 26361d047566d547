"""Responses rendered without DRF's per-object machinery.

Each response shape is defined once, as a DRF serializer (what the OpenAPI
document shows). `renderer()` derives from it the plain function the RPCs
render with: the same fields, keys and values (each field's own
`to_representation`), without the Serializer's per-object work, which costs
about 40 times more than the values themselves (docs/PERFORMANCE.md).
tests/test_wire.py holds the two equal on awkward values.
"""

import operator
from collections.abc import Callable
from typing import Any

from rest_framework import fields as drf


def _represent(field) -> Callable[[Any], Any]:
    """The field's to_representation; `str` itself where that is all it does
    (a call of a builtin instead of a method, on every value of every row)."""
    if type(field) is drf.CharField or (type(field) is drf.UUIDField and field.uuid_format == "hex_verbose"):
        return str
    return field.to_representation


def renderer(serializer_class) -> Callable[[Any], dict]:
    """The function that renders an object (a model instance or a row with the
    same attribute names) as `serializer_class(obj).data` does."""
    fields = serializer_class().fields
    if any(field.source == "*" or "." in field.source for field in fields.values()):
        raise TypeError(f"{serializer_class.__name__}: only flat shapes (one attribute per field) are rendered")
    names = tuple(fields)
    values_of = operator.attrgetter(*(field.source for field in fields.values()))
    represent = tuple(_represent(field) for field in fields.values())

    def render(obj) -> dict:
        return {name: as_wire(value) for name, as_wire, value in zip(names, represent, values_of(obj), strict=True)}

    render.__doc__ = f"The wire form of {serializer_class.__name__}."
    return render
