"""Limits and timestamps."""

import re

from rest_framework import serializers

from ..errors import InvalidLimit, InvalidTimestamp
from ..timestamps import RFC3339, format_timestamp, parse_timestamp
from .base import RpcField, is_blank, unwrap

TIMESTAMP_EXAMPLE = "2021-01-22T15:01:13.123456Z"


def numbers_up_to(maximum):
    """A regex of the decimal numbers 1 to `maximum`, without leading zeros."""
    top = str(maximum)
    options = [f"[1-9][0-9]{{0,{len(top) - 2}}}"] if len(top) > 1 else []
    for position, digit in enumerate(top):
        lowest = 1 if position == 0 else 0
        if int(digit) > lowest:  # a smaller digit here, any digits after it
            rest = len(top) - position - 1
            options.append(f"{top[:position]}[{lowest}-{int(digit) - 1}][0-9]{{{rest}}}")
    return "(?:" + "|".join([*options, top]) + ")"


class Limit(RpcField):
    """An integer from 1 to 1000: plain, as a string of up to DIGITS digits,
    or wrapped; absent is the default."""

    MINIMUM, MAXIMUM, DIGITS = 1, 1000, 12
    _INTEGER = re.compile(rf"-?\d{{1,{DIGITS}}}", re.ASCII)
    wrapped = True
    errors = (InvalidLimit,)

    def __init__(self, *, default=25, **kwargs):
        self.default_limit = default
        super().__init__(**kwargs)

    def clean(self, value):
        value = unwrap(value)
        if is_blank(value):
            return self.default_limit
        if (isinstance(value, float) and value.is_integer()) or (
            isinstance(value, str) and self._INTEGER.fullmatch(value)
        ):
            value = int(value)
        if type(value) is not int or not self.MINIMUM <= value <= self.MAXIMUM:
            raise InvalidLimit(f"{self.field_name} must be an integer from {self.MINIMUM} to {self.MAXIMUM}")
        return value

    def value_schemas(self):
        assert self.MINIMUM == 1, "numbers_up_to() starts at 1"
        return [
            # A JSON number with no fraction: 10.0 is 10 (JSON Schema draft 6 on).
            {"type": "integer", "minimum": self.MINIMUM, "maximum": self.MAXIMUM},
            {
                "type": "string",
                "maxLength": self.DIGITS,
                "pattern": f"^0*{numbers_up_to(self.MAXIMUM)}$",
                "description": f'The number as a string of at most {self.DIGITS} digits, e.g. "10".',
            },
        ]

    def json_schema(self):
        return {**super().json_schema(), "default": self.default_limit}

    def describe(self):
        return (
            f"An integer from {self.MINIMUM} to {self.MAXIMUM} ({InvalidLimit.id} otherwise); "
            f"{self.default_limit} if absent, null, empty or only whitespace."
        )


class Timestamp(RpcField):
    """An optional RFC 3339 timestamp with an offset."""

    errors = (InvalidTimestamp,)

    def clean(self, value):
        if is_blank(value):
            return None
        try:
            return parse_timestamp(value) if isinstance(value, str) else parse_timestamp("")
        except ValueError:
            raise InvalidTimestamp(
                f"{self.field_name} must be an RFC 3339 timestamp with an offset, e.g. 2021-01-22T15:01:13.123456Z"
            ) from None

    def value_schemas(self):
        return [
            {
                "type": "string",
                # parse_timestamp's own syntax (\d is [0-9] there, re.ASCII, as
                # in ECMA-262); `date-time` adds the calendar (no February 30,
                # no hour 24) as datetime() checks it, which also refuses year
                # 0 and leap seconds.
                "format": "date-time",
                "pattern": "^(?:" + RFC3339.pattern.replace(r"\d", "[0-9]") + ")$",
                "not": {"pattern": "^0000|^.{17}60"},
                "example": TIMESTAMP_EXAMPLE,
            }
        ]

    def describe(self):
        return (
            "An RFC 3339 timestamp with an offset (`Z` or ±hh:mm) and 0 to 9 fractional digits; "
            f"{InvalidTimestamp.id} otherwise. Sub-microsecond digits round up. {self.presence()}"
        )


class TimestampOut(serializers.ReadOnlyField):
    """A response timestamp: UTC, `Z`, six fractional digits."""

    def to_representation(self, value):
        return format_timestamp(value)

    def json_schema(self):
        return {
            "type": "string",
            "format": "date-time",
            "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$",
            "example": TIMESTAMP_EXAMPLE,
            "description": "RFC 3339, always UTC with `Z` and exactly six fractional digits.",
        }
