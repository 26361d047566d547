"""API keys: made, found and revoked here; the management commands, admin and
the request authentication all call these functions.

A request finds its key by the SHA-256 digest of what it sent, through the
unique index on `digest` (and then this process's cache, keyed by the same
digest). The secret itself is never compared with anything, so no comparison
can leak its characters by its timing; the digest comparison that follows the
lookup is hmac.compare_digest, constant time, as a second guard.

Active keys are cached per process for API_KEY_CACHE_SECONDS (at most 5: the
contract's "a revoked key is refused within 5 seconds on every app server"),
so that a steady stream of requests does not look its key up every time.
Revoking in this process forgets the key at once; other processes and servers
stop accepting it when their entry expires.
"""

import hashlib
import hmac
import secrets
import threading
import time

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import statements
from .models import ApiKey, Namespace

KEY_PREFIX = "cvk_"


def digest_of(raw_key):
    return hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).hexdigest()


@transaction.atomic
def create_api_key(namespace_name, *, rate_limit_per_minute=None):
    """Create a key for the namespace (made if missing). Returns (ApiKey, raw key);
    the raw key exists only in this return value."""
    namespace, _ = Namespace.objects.get_or_create(name=namespace_name)
    return new_key_for(namespace, rate_limit_per_minute=rate_limit_per_minute)


class ActiveKeyCache:
    """digest -> (expiry, ApiKey) of recently seen active keys. Bounded: when
    full, it is emptied (a burst of distinct keys only costs lookups).
    Unknown and revoked keys are not cached."""

    MAX_ENTRIES = 10_000

    def __init__(self):
        self._entries = {}
        self._lock = threading.Lock()

    def get(self, digest):
        entry = self._entries.get(digest)
        if entry is None:
            return None
        expires, api_key = entry
        if time.monotonic() >= expires:
            self.forget(digest)
            return None
        return api_key

    def put(self, digest, api_key):
        seconds = settings.API_KEY_CACHE_SECONDS
        if seconds <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[digest] = (time.monotonic() + seconds, api_key)

    def forget(self, digest):
        with self._lock:
            self._entries.pop(digest, None)

    def clear(self):
        with self._lock:
            self._entries.clear()


active_keys = ActiveKeyCache()


def find_active_key(raw_key):
    """The active ApiKey (with its namespace) for a raw key, or None. One
    query (statements.active_key), none while the key is in this process's
    cache."""
    digest = digest_of(raw_key)
    api_key = active_keys.get(digest)
    if api_key is None:
        api_key = _load_active_key(digest)
        if api_key is None or not hmac.compare_digest(api_key.digest, digest):
            return None
        active_keys.put(digest, api_key)
    return api_key


def _load_active_key(digest):
    """The active ApiKey of a digest with its namespace, as the ORM would
    load them (Model.from_db), or None."""
    row = statements.active_key.one(digest)
    if row is None:
        return None
    split = len(statements.KEY_ATTNAMES)
    api_key = ApiKey.from_db(connection.alias, statements.KEY_ATTNAMES, row[:split])
    api_key.namespace = Namespace.from_db(connection.alias, statements.NAMESPACE_ATTNAMES, row[split:])
    return api_key


def new_key_for(namespace, *, rate_limit_per_minute=None):
    """Create a key for an existing Namespace. Returns (ApiKey, raw key)."""
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        namespace=namespace,
        prefix=raw_key[:12],
        digest=digest_of(raw_key),
        rate_limit_per_minute=rate_limit_per_minute,
    )
    return api_key, raw_key


def revoke(api_key):
    """Revoke an ApiKey: refused from the next request on in this process, and
    within API_KEY_CACHE_SECONDS on every other."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    active_keys.forget(api_key.digest)
    return api_key


def find_key(raw_key):
    """The ApiKey (active or revoked, with its namespace) for a raw key, or None."""
    return ApiKey.objects.select_related("namespace").filter(digest=digest_of(raw_key)).first()


def revoke_api_key(raw_key):
    """Revoke a key given as text; returns the ApiKey, or None if there is no such key.
    (Not recorded: moderation.services.revoke_key is the audited way.)"""
    api_key = find_key(raw_key)
    return revoke(api_key) if api_key is not None else None
