"""The SQL a request runs to find its API key (convoproject.sql).

Every request whose key is not in this process's cache runs it, and so does
every request with an unknown or revoked key, which no cache holds: built by
the ORM, the lookup cost more CPU than a whole read of 25 messages
(docs/PERFORMANCE.md), so refusing a stream of wrong keys was the dearest
answer the service gave.
"""

from convoproject.sql import Statement, fields_of

from .models import ApiKey, Namespace

KEY_FIELDS = ApiKey._meta.concrete_fields
NAMESPACE_FIELDS = Namespace._meta.concrete_fields
# What Model.from_db is given for each half of a row.
KEY_ATTNAMES = [field.attname for field in KEY_FIELDS]
NAMESPACE_ATTNAMES = [field.attname for field in NAMESPACE_FIELDS]

# The key's columns, then its namespace's, each in its model's order (what
# Model.from_db takes); named apart in the rows, where both have an id.
active_key = Statement(
    f"SELECT {', '.join(f'k.{field.column}' for field in KEY_FIELDS)}, "
    f"{', '.join(f'n.{field.column}' for field in NAMESPACE_FIELDS)} "
    f"FROM {ApiKey._meta.db_table} k JOIN {Namespace._meta.db_table} n ON n.id = k.namespace_id "
    "WHERE k.digest = %s AND k.revoked_at IS NULL",
    params=fields_of(ApiKey, "digest"),
    columns=[(f"key_{field.attname}", field) for field in KEY_FIELDS]
    + [(f"namespace_{field.attname}", field) for field in NAMESPACE_FIELDS],
)
