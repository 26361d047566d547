"""Request fields with the contract's rules (CONTRACT 2, 3).

Each field checks its value completely (presence, type, length) in `clean`
and raises the contract's typed error itself. A request serializer lists its
fields in the contract's validation order; RpcView cleans them in that order,
and the first RpcError stops validation, so the first failing field is the
one reported.

Next to its `clean`, each field also states what it accepts, from the same
bounds, for the OpenAPI document (convoproject.rpc.schema): `json_schema()`
and `error_ids()`.
"""

from .base import RpcField, canonical_uuid, checked_string, is_blank, unwrap
from .lists import MAX_IDS, IdList, RowIdList, UserIdList
from .scalars import Limit, Timestamp, TimestampOut
from .text import CLIENT_ID_MAX, Choice, ClientId, RowId, Text

__all__ = [
    "CLIENT_ID_MAX",
    "MAX_IDS",
    "Choice",
    "ClientId",
    "IdList",
    "Limit",
    "RowId",
    "RowIdList",
    "RpcField",
    "Text",
    "Timestamp",
    "TimestampOut",
    "UserIdList",
    "canonical_uuid",
    "checked_string",
    "is_blank",
    "unwrap",
]
