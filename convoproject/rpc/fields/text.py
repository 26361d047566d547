"""String fields: free text, client-chosen ids and server-made row ids."""

from ..errors import BadRequest, MissingField, TooLong
from .base import UUID_EXAMPLE, RpcField, canonical_uuid, checked_string, is_blank, non_blank_string, unwrap

CLIENT_ID_MAX = 255


class Text(RpcField):
    """A string of 1 to max_length code points; blank is missing (or absent, if optional)."""

    errors = (BadRequest, TooLong)

    def __init__(self, *, max_length, wrapped=False, **kwargs):
        self.max_length, self.wrapped = max_length, wrapped
        super().__init__(**kwargs)

    def clean(self, value):
        if self.wrapped:
            value = unwrap(value)
        if is_blank(value):
            if self.missing:
                raise MissingField(*self.missing)
            return None
        checked_string(value, self.field_name)
        if len(value) > self.max_length:
            raise TooLong(f"{self.field_name} is longer than {self.max_length} characters")
        return value

    def value_schemas(self):
        return [non_blank_string(self.max_length)]

    def describe(self):
        return (
            f"Stored exactly as sent; at most {self.max_length} characters (code points), {TooLong.id} beyond; "
            f"{BadRequest.id} if not a string or with a NUL character. {self.presence()}"
        )


class ClientId(Text):
    """group_id, author_id: opaque strings of 1 to 255 characters."""

    def __init__(self, **kwargs):
        super().__init__(max_length=CLIENT_ID_MAX, **kwargs)

    def describe(self):
        return (
            f"An opaque client-chosen id of 1 to {self.max_length} characters, stored and compared exactly "
            f"({TooLong.id} beyond; {BadRequest.id} if not a string or with a NUL character). {self.presence()}"
        )


class RowId(RpcField):
    """The id of a server-made row. Anything that is not a canonical UUID is
    returned as None: such a row is simply not found."""

    errors = (BadRequest,)

    def clean(self, value):
        if is_blank(value):
            raise MissingField(*self.missing)
        return canonical_uuid(checked_string(value, self.field_name))

    def value_schemas(self):
        # Any non-blank string: one that is not a server-made UUID is taken
        # and simply not found, so the schema does not say `format: uuid`.
        return [non_blank_string(example=UUID_EXAMPLE)]

    def describe(self):
        return (
            "A server-made id (a lowercase canonical UUID). Any other string is simply not found; "
            f"{BadRequest.id} if not a string or with a NUL character. {self.presence()}"
        )


class Choice(RpcField):
    """One of a fixed set of strings, exactly as listed; blank is missing.
    `invalid` is the RpcError class of any other value."""

    def __init__(self, *, choices, invalid, **kwargs):
        self.choices, self.invalid = tuple(choices), invalid
        self.errors = (BadRequest, invalid)
        super().__init__(**kwargs)

    def clean(self, value):
        if is_blank(value):
            if self.missing:
                raise MissingField(*self.missing)
            return None
        checked_string(value, self.field_name)
        if value not in self.choices:
            raise self.invalid(f"{self.field_name} must be one of {', '.join(self.choices)}")
        return value

    def value_schemas(self):
        return [{"type": "string", "enum": list(self.choices)}]

    def describe(self):
        return (
            f"One of {', '.join(f'`{choice}`' for choice in self.choices)}; {self.invalid.id} for any other "
            f"string, {BadRequest.id} if not a string. {self.presence()}"
        )
