"""What every request field shares: absent, null and (for optional fields)
blank are the same; the checks on strings; and the pieces of their JSON
schemas."""

import re
import uuid

from rest_framework import serializers
from rest_framework.fields import empty

from ..errors import BadRequest

# The characters Python's str.strip() removes (what `is_blank` calls
# whitespace), spelled out for JSON Schema patterns: their \s (ECMA-262) is
# not the same set.
WHITESPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
BLANK = rf"^[{WHITESPACE}]*$"
# Not only whitespace (that counts as missing), and no NUL character (BAD_REQUEST).
NON_BLANK = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"
UUID_EXAMPLE = "0b7e6d34-3f2a-4c55-9d1e-8c2b1f7a9e10"
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)


def unwrap(value):
    """Protobuf wrapper types: `{"value": x}` is x, `{}` is absent."""
    if isinstance(value, dict):
        return value.get("value")
    return value


def checked_string(value, name):
    """A str that PostgreSQL and SQLite can both store exactly, or BadRequest."""
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    if "\x00" in value:
        raise BadRequest(f"{name} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{name} is not valid Unicode (it contains a lone surrogate)") from None
    return value


def is_blank(value):
    return value is None or (isinstance(value, str) and not value.strip())


def canonical_uuid(text):
    """The UUID a server-generated id names, or None: such an id cannot exist."""
    return uuid.UUID(text) if _CANONICAL_UUID.fullmatch(text) else None


def non_blank_string(max_length=None, **extra):
    """The schema of a string that `checked_string` takes and `is_blank` does not."""
    schema = {"type": "string", "minLength": 1}
    if max_length is not None:
        schema["maxLength"] = max_length
    return {**schema, "pattern": NON_BLANK, **extra}


def one_of(schemas):
    return schemas[0] if len(schemas) == 1 else {"oneOf": schemas}


class RpcField(serializers.Field):
    """A request field: absent and null are the same (CONTRACT 1).

    `missing` is the (id, detail) of its MissingField error when the field is
    required; an optional field also takes a blank string as absent (CONTRACT
    3). `wrapped` fields also take the protobuf wrapper form {"value": ...}.
    Each subclass states, next to its `clean`, what clean accepts for the
    OpenAPI document (convoproject.rpc.schema): `value_schemas()` from the
    same bounds clean uses, `errors` (the RpcError classes clean raises
    besides MissingField) and `describe()`."""

    wrapped = False
    errors = ()

    def __init__(self, *, missing=None, **kwargs):
        self.missing = missing
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def run_validation(self, data=empty):
        return self.clean(None if data is empty else data)

    def clean(self, value):
        raise NotImplementedError

    def to_representation(self, value):
        return value

    @property
    def required_on_wire(self):
        """Absent, null or blank is an error (DRF's own `required` stays False:
        the field checks presence itself)."""
        return self.missing is not None

    def error_ids(self):
        """The ids of the errors clean() can raise."""
        ids = [self.missing[0]] if self.required_on_wire else []
        return ids + [error.id for error in self.errors]

    # ------------------------------------------------------------ the JSON schema

    def value_schemas(self):
        """The schemas of the values clean() takes as given (not as absent)."""
        raise NotImplementedError

    def describe(self):
        raise NotImplementedError

    def json_schema(self):
        """The OpenAPI schema of exactly the JSON values clean() accepts."""
        branches = self._plain_schemas()
        if self.wrapped:
            branches.append(self._wrapper_schema())
        return {**one_of(branches), "description": self.describe()}

    def _plain_schemas(self):
        if self.required_on_wire:
            return self.value_schemas()
        absent = {
            "type": "string",
            "pattern": BLANK,
            "nullable": True,
            "title": "Absent",
            "description": "null, or a string that is empty or only whitespace: the same as leaving the field out.",
        }
        return [absent, *self.value_schemas()]

    def _wrapper_schema(self):
        schema = {
            "type": "object",
            "title": "Wrapper",
            "description": 'The protobuf wrapper form, as in the m3o seeds: `{"value": ...}`; `{}` means absent.',
            "properties": {"value": one_of(self._plain_schemas())},
        }
        if self.required_on_wire:
            schema["required"] = ["value"]
        return schema

    def presence(self):
        """The sentence on absent values, for describe()."""
        if self.required_on_wire:
            return f"Absent, null, empty or only whitespace is {self.missing[0]}."
        return "Absent, null, empty or only whitespace counts as absent."
