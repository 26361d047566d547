"""Each request field's JSON schema (what /api/schema/ says) accepts exactly
the values its clean() accepts (what the service does), and clean() raises
only the errors the field declares.

The schemas are OpenAPI 3.0 (`nullable`); they are checked as JSON Schema
draft 7 with jsonschema_rs (installed with schemathesis), whose patterns
follow ECMA-262 as JSON Schema says (`$` is the end of the string, not before
a final newline as in Python's re) and which checks `date-time`.

JSON Schema cannot count distinct values, so for the lists of ids the schema
is stricter than clean() exactly where the contract merges duplicates or
drops blank user ids (LENIENT): a list the schema calls valid is still always
accepted.
"""

import re
import uuid

import jsonschema_rs
import pytest

import chats.views
import streams.views
from convoproject.messaging.reports import Description
from convoproject.rpc import fields
from convoproject.rpc.errors import RpcError
from convoproject.rpc.fields.scalars import numbers_up_to

UUID = "0b7e6d34-3f2a-4c55-9d1e-8c2b1f7a9e10"
DISTINCT_100 = [f"id-{n}" for n in range(100)]

# fmt: off
SAMPLES = [
    # absent, blank, strings
    None, "", "  ", "\t\n", "\u3000", "\x1c", "\ufeff", "a", " a ", "😀", "a\x00", "\x00", "x\n",
    "x" * 255, "x" * 256, "x" * 10_000, "x" * 10_001, " " * 300, UUID, UUID.upper(), "not-a-uuid",
    # reasons, descriptions
    "spam", "other", "harassment", "inappropriate", "Spam", " spam", "spam ", "x" * 1000, "x" * 1001,
    # limits
    "010", "0010", "1000", "1001", "0", "-1", "-0", "+5", " 5", "5 ", "10\n", "\u0663", "000000001000",
    "0000000001000", "999999999999", "1e3", "10.0", 0, 1, 10, 999, 1000, 1001, -5, 10.0, 10.5, 1e3, 1e20,
    float("nan"), float("inf"), True, False,
    # wrappers
    {}, {"value": "5"}, {"value": 5}, {"value": None}, {"value": ""}, {"value": "  "}, {"value": "g"},
    {"value": {"value": 5}}, {"value": 10.0}, {"value": "1001"}, {"value": "010"}, {"other": 1},
    {"value": "x" * 256}, {"value": "a\x00"}, {"value": ["a", "b"]},
    # timestamps
    "2021-01-22T15:01:13.123456Z", "2021-01-22t15:01:13z", "2021-01-22T15:01:13+01:00",
    "2021-01-22T15:01:13.123456789-05:30", "2021-01-22T15:01:13.1234567891Z", "2021-01-22T15:01:13",
    "2021-01-22", "2021-02-30T00:00:00Z", "2020-02-29T00:00:00Z", "2021-02-29T00:00:00Z",
    "2021-01-22T24:00:00Z", "2021-01-22T15:01:60Z", "2016-12-31T23:59:60Z", "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2021-01-22T15:01:13+24:00",
    "2021-01-22T15:01:13+01:60", "2021-01-22 15:01:13Z", "2021-01-22T15:01:13.Z", "2021-13-01T00:00:00Z",
    "\uff12\uff10\uff12\uff11-01-22T15:01:13Z", "2021-01-22T15:01:13Z\n",
    # lists
    [], [UUID], ["a"], ["a", "b"], ["b", "a"], ["a", "a"], ["a", "a", "b"], ["a", ""], ["a", "b", ""],
    ["", " "], [None], ["a", None, "b"], [1, "a"], ["a\x00", "b"], ["x" * 256, "b"], ["x" * 255, "b"],
    DISTINCT_100, [*DISTINCT_100, "one more"], ["a"] * 101, ["a", "b"] * 60,
]
# fmt: on

# Accepted by clean() but outside the schema: duplicates merged, blank user ids dropped.
LENIENT = {
    "RowIdList": [["a"] * 101, ["a", "b"] * 60],
    "UserIdList": [["a", "a", "b"], ["a", "b", ""], ["a", "b"] * 60],
}

REQUEST_FIELDS = [
    (f"{service}/{method}.{name}", field)
    for service, rpcs in [("Streams", streams.views.RPCS), ("Chats", chats.views.RPCS)]
    for method, view in rpcs.items()
    for name, field in view.request_fields()
]


def as_json_schema(schema):
    """OpenAPI 3.0's `nullable: true` is JSON Schema's "or null"."""
    if isinstance(schema, list):
        return [as_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: as_json_schema(value) for key, value in schema.items() if key != "nullable"}
    return {"anyOf": [converted, {"type": "null"}]} if schema.get("nullable") else converted


def outcome(field, value):
    """None if clean() accepts the value, else the id of its error."""
    try:
        field.clean(value)
    except RpcError as error:
        return error.id
    return None


@pytest.mark.parametrize(("name", "field"), REQUEST_FIELDS, ids=[name for name, _ in REQUEST_FIELDS])
def test_the_schema_accepts_what_clean_accepts(name, field):
    validator = jsonschema_rs.Draft7Validator(as_json_schema(field.json_schema()), validate_formats=True)
    lenient = LENIENT.get(type(field).__name__, [])
    disagreements = []
    for value in SAMPLES:
        error_id = outcome(field, value)
        assert error_id in [None, *field.error_ids()], (name, value, error_id)
        accepted, valid = error_id is None, validator.is_valid(value)
        if accepted != valid and not (accepted and value in lenient):
            disagreements.append(
                (repr(value)[:60], "accepted" if accepted else error_id, "valid" if valid else "invalid")
            )
    assert not disagreements, f"{name}: clean() and the schema disagree on {disagreements}"
    for value in lenient:  # still accepted, and still outside the schema
        assert outcome(field, value) is None and not validator.is_valid(value), (name, value)


@pytest.mark.parametrize(("name", "field"), REQUEST_FIELDS, ids=[name for name, _ in REQUEST_FIELDS])
def test_null_is_absent(name, field):
    """An optional field takes null as absent; a required one answers its MISSING_* error."""
    assert outcome(field, None) == (field.missing[0] if field.required_on_wire else None)


def test_each_rule_is_declared_once_on_its_field():
    """The bounds clean() uses are the ones the schema states."""
    limit = fields.Limit()
    limit.bind("limit", None)
    assert limit.clean(str(limit.MAXIMUM).zfill(limit.DIGITS)) == limit.MAXIMUM
    assert limit.clean(10.0) == 10
    text = fields.ClientId()
    text.bind("group_id", None)
    assert text.json_schema()["oneOf"][1]["maxLength"] == fields.CLIENT_ID_MAX
    assert text.clean("x" * fields.CLIENT_ID_MAX) == "x" * fields.CLIENT_ID_MAX


@pytest.mark.parametrize("maximum", [1, 2, 9, 10, 11, 25, 99, 100, 101, 250, 999, 1000, 1234, 5000])
def test_numbers_up_to(maximum):
    pattern = re.compile(numbers_up_to(maximum))
    for number in range(0, maximum * 2 + 20):
        assert bool(pattern.fullmatch(str(number))) is (1 <= number <= maximum), number
    assert not pattern.fullmatch(f"0{maximum}")


def test_samples_cover_every_kind_of_field():
    kinds = {type(field) for _, field in REQUEST_FIELDS}
    assert kinds == {fields.Text, fields.ClientId, fields.RowId, fields.Limit, fields.Timestamp} | {
        fields.RowIdList,
        fields.UserIdList,
        fields.Choice,
        Description,
    }
    assert str(uuid.UUID(UUID)) == UUID
