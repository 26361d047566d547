"""Lists of ids: conversation_ids and user_ids."""

from ..errors import BadRequest, MissingField, TooLong, TooManyIds
from .base import UUID_EXAMPLE, RpcField, canonical_uuid, checked_string, is_blank, non_blank_string
from .text import CLIENT_ID_MAX

MAX_IDS = 100


class IdList(RpcField):
    """A list of strings with at most MAX_IDS distinct values, order kept.

    JSON Schema cannot count distinct values: the schema's `maxItems` (and
    user_ids' `uniqueItems`) is the part of the rule it can state, so a list
    it calls valid is always accepted, and the descriptions say the rest."""

    errors = (BadRequest, TooManyIds)

    def __init__(self, *, drop_blanks, min_distinct, **kwargs):
        self.drop_blanks, self.min_distinct = drop_blanks, min_distinct
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

    def value_schemas(self):
        return [{"type": "array", "items": self.item_schema(), "minItems": self.min_distinct, "maxItems": MAX_IDS}]

    def item_schema(self):
        raise NotImplementedError


class RowIdList(IdList):
    """conversation_ids: ids that are not UUIDs are dropped, as they match nothing."""

    def __init__(self, **kwargs):
        super().__init__(drop_blanks=False, min_distinct=1, **kwargs)

    def clean(self, value):
        return [row_id for row_id in map(canonical_uuid, super().clean(value)) if row_id is not None]

    def item_schema(self):
        return non_blank_string(example=UUID_EXAMPLE)

    def describe(self):
        return (
            f"Conversation ids, each a non-blank string without NUL ({BadRequest.id} otherwise); duplicates are "
            f"ignored and unknown ids contribute nothing. Absent, null or [] is {self.missing[0]}; more than "
            f"{MAX_IDS} distinct ids is {TooManyIds.id}."
        )


class UserIdList(IdList):
    """user_ids: blanks dropped, duplicates merged, 2 to 100 distinct; sorted by code point."""

    errors = (BadRequest, TooLong, TooManyIds)

    def __init__(self, **kwargs):
        super().__init__(drop_blanks=True, min_distinct=2, **kwargs)

    def clean(self, value):
        return sorted(super().clean(value))

    def check_item(self, item, name):
        if len(item) > CLIENT_ID_MAX:
            raise TooLong(f"{name} is longer than {CLIENT_ID_MAX} characters")

    def value_schemas(self):
        return [{**super().value_schemas()[0], "uniqueItems": True}]

    def item_schema(self):
        return non_blank_string(CLIENT_ID_MAX)

    def describe(self):
        return (
            f"User ids of 1 to {CLIENT_ID_MAX} characters ({TooLong.id} beyond; {BadRequest.id} if not a string "
            f"or with a NUL character); blank ones are dropped and duplicates merged. Fewer than "
            f"{self.min_distinct} distinct ids is {self.missing[0]}, more than {MAX_IDS} {TooManyIds.id}."
        )
