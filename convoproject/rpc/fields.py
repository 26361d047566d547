"""Request fields with the contract's rules (CONTRACT 2, 3).

Each field checks its value completely (presence, type, length) and raises the
contract's typed error itself. A request serializer lists its fields in the
contract's validation order; DRF validates them in that order, and the first
RpcError stops validation, so the first failing field is the one reported.
"""

import re
import uuid

from rest_framework import serializers
from rest_framework.fields import empty

from .errors import (
    BadRequest,
    InvalidLimit,
    InvalidTimestamp,
    MissingField,
    TooLong,
    TooManyIds,
)
from .timestamps import format_timestamp, parse_timestamp

MAX_IDS = 100
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)
_INTEGER = re.compile(r"-?\d{1,12}", re.ASCII)


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


class RpcField(serializers.Field):
    """A request field: absent and null are the same (CONTRACT 1)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def run_validation(self, data=empty):
        return self.clean(None if data is empty else data)

    def clean(self, value):
        raise NotImplementedError

    def to_representation(self, value):
        return value


class Text(RpcField):
    """A string of 1 to max_length code points; blank is missing (or absent, if optional)."""

    def __init__(self, *, max_length, missing=None, wrapped=False, **kwargs):
        self.max_length, self.missing, self.wrapped = max_length, missing, wrapped
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


class ClientId(Text):
    """group_id, author_id: opaque strings of 1 to 255 characters."""

    def __init__(self, **kwargs):
        super().__init__(max_length=255, **kwargs)


class RowId(RpcField):
    """The id of a server-made row. Anything that is not a canonical UUID is
    returned as None: such a row is simply not found."""

    def __init__(self, *, missing, **kwargs):
        self.missing = missing
        super().__init__(**kwargs)

    def clean(self, value):
        if is_blank(value):
            raise MissingField(*self.missing)
        return canonical_uuid(checked_string(value, self.field_name))


class Limit(RpcField):
    """An integer from 1 to 1000: plain, as a string, or wrapped."""

    def __init__(self, *, default=25, **kwargs):
        self.default_limit = default
        super().__init__(**kwargs)

    def clean(self, value):
        value = unwrap(value)
        if is_blank(value):
            return self.default_limit
        if (isinstance(value, float) and value.is_integer()) or (isinstance(value, str) and _INTEGER.fullmatch(value)):
            value = int(value)
        if type(value) is not int or not 1 <= value <= 1000:
            raise InvalidLimit(f"{self.field_name} must be an integer from 1 to 1000")
        return value


class Timestamp(RpcField):
    """An optional RFC 3339 timestamp with an offset."""

    def clean(self, value):
        if is_blank(value):
            return None
        try:
            return parse_timestamp(value) if isinstance(value, str) else parse_timestamp("")
        except ValueError:
            raise InvalidTimestamp(
                f"{self.field_name} must be an RFC 3339 timestamp with an offset, e.g. 2021-01-22T15:01:13.123456Z"
            ) from None


class IdList(RpcField):
    """A list of strings with at most MAX_IDS distinct values, order kept."""

    def __init__(self, *, missing, drop_blanks, min_distinct, **kwargs):
        self.missing, self.drop_blanks, self.min_distinct = (
            missing,
            drop_blanks,
            min_distinct,
        )
        super().__init__(**kwargs)

    def clean(self, value):
        if value is None:
            raise MissingField(*self.missing)
        if not isinstance(value, list):
            raise BadRequest(f"{self.field_name} must be a list of strings")
        distinct = {}
        for index, item in enumerate(value):
            name = f"{self.field_name}[{index}]"
            if is_blank(item) and self.drop_blanks and item is not None:
                continue
            if is_blank(item) or not isinstance(item, str):
                raise BadRequest(f"{name} must be a non-blank string")
            self.check_item(checked_string(item, name), name)
            distinct[item] = None
        if len(distinct) < self.min_distinct:
            raise MissingField(*self.missing)
        if len(distinct) > MAX_IDS:
            raise TooManyIds(f"{self.field_name} holds more than {MAX_IDS} distinct ids")
        return list(distinct)

    def check_item(self, item, name):
        pass


class RowIdList(IdList):
    """conversation_ids: ids that are not UUIDs are dropped, as they match nothing."""

    def __init__(self, **kwargs):
        super().__init__(drop_blanks=False, min_distinct=1, **kwargs)

    def clean(self, value):
        return [row_id for row_id in map(canonical_uuid, super().clean(value)) if row_id is not None]


class UserIdList(IdList):
    """user_ids: blanks dropped, duplicates merged, 2 to 100 distinct; sorted by code point."""

    def __init__(self, **kwargs):
        super().__init__(drop_blanks=True, min_distinct=2, **kwargs)

    def clean(self, value):
        return sorted(super().clean(value))

    def check_item(self, item, name):
        if len(item) > 255:
            raise TooLong(f"{name} is longer than 255 characters")


class TimestampOut(serializers.ReadOnlyField):
    """A response timestamp: UTC, `Z`, six fractional digits."""

    def to_representation(self, value):
        return format_timestamp(value)
