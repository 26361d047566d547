"""Idempotency-Key for the create RPCs (CONTRACT 7).

A request that repeats a key of its namespace within 24 hours, with the same
method and body, creates nothing and gets the original answer again; with a
different method or body it is 409 IDEMPOTENCY_KEY_REUSED.

How exactly-once works: `once` claims the key by INSERTing its row first, and
does the work and stores the answer in the SAME transaction. A racing request
with the same key then cannot get past its own INSERT until the first
transaction ends: on PostgreSQL that INSERT waits on the unique index and fails
once the first commits (and succeeds if it rolled back); on SQLite the
transactions are serialized anyway (transaction_mode IMMEDIATE). The loser then
reads the committed row and answers its response. A failure (any exception,
an RpcError included) rolls the claim back with the work, so only successful
answers are remembered and a failed request may be retried with its key.
"""

import hashlib
import json
import re
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from convoproject.rpc.models import IdempotentResponse

from .errors import BadRequest, IdempotencyKeyReused, InternalError

HEADER = "Idempotency-Key"
LIFETIME = timedelta(hours=24)
KEY_MAX_LENGTH = 255
KEY_CHARACTERS = r"\x20-\x7e"  # printable ASCII, as a regular expression's character range
_VALID_KEY = re.compile(rf"[{KEY_CHARACTERS}]{{1,{KEY_MAX_LENGTH}}}")


def key_from(request):
    """The request's Idempotency-Key, None without the header; BAD_REQUEST if
    it is not 1 to KEY_MAX_LENGTH printable ASCII characters."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key.strip():
        raise BadRequest(f"The {HEADER} header is empty")
    if len(key) > KEY_MAX_LENGTH:
        raise BadRequest(f"The {HEADER} header is longer than {KEY_MAX_LENGTH} characters")
    if not _VALID_KEY.fullmatch(key):
        raise BadRequest(f"The {HEADER} header must be printable ASCII characters")
    return key


def body_hash(body):
    """SHA-256 of the canonical JSON of the parsed body: key order and spacing
    do not matter."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def expired_before():
    return timezone.now() - LIFETIME


def once(namespace, key, method, body, work):
    """The answer of `work()` (a JSON-able dict), run at most once per
    (namespace, key) while the key lives; a repeat gets the stored answer."""
    digest = body_hash(body)
    with transaction.atomic():
        row = _claim(namespace, key, method, digest)
        if row.response:  # a repeat
            return json.loads(row.response)
        answer = work()
        row.response = json.dumps(answer, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))
        row.save(update_fields=["response"])
        return answer


def _claim(namespace, key, method, digest):
    """Our new row (response empty), or the committed row of an earlier request
    with this key and the same method and body."""
    for _ in range(3):
        try:
            with transaction.atomic():
                return IdempotentResponse.objects.create(namespace=namespace, key=key, method=method, body_hash=digest)
        except IntegrityError:
            pass  # the key exists (on PostgreSQL: once its transaction committed)
        row = IdempotentResponse.objects.filter(namespace=namespace, key=key).first()
        if row is None:
            continue  # purged meanwhile: claim it again
        if row.created_at < expired_before():
            IdempotentResponse.objects.filter(pk=row.pk).delete()  # an expired key is free again
            continue
        if row.method != method or row.body_hash != digest:
            raise IdempotencyKeyReused()
        if not row.response:  # only visible inside its own transaction: cannot happen
            raise InternalError("An Idempotency-Key row without its answer")
        return row
    raise InternalError("Could not claim the Idempotency-Key")


def purge_expired():
    """Delete the rows of keys older than 24 hours; their number."""
    deleted, _ = IdempotentResponse.objects.filter(created_at__lt=expired_before()).delete()
    return deleted
