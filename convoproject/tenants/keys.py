"""API keys: made, found and revoked here; the management commands, admin and
the request authentication all call these functions."""

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from .models import ApiKey, Namespace

KEY_PREFIX = "cvk_"


def digest_of(raw_key):
    return hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).hexdigest()


@transaction.atomic
def create_api_key(namespace_name):
    """Create a key for the namespace (made if missing). Returns (ApiKey, raw key);
    the raw key exists only in this return value."""
    namespace, _ = Namespace.objects.get_or_create(name=namespace_name)
    return new_key_for(namespace)


def find_active_key(raw_key):
    """The active ApiKey (with its namespace) for a raw key, or None. One query."""
    return ApiKey.objects.select_related("namespace").filter(digest=digest_of(raw_key), revoked_at__isnull=True).first()


def new_key_for(namespace):
    """Create a key for an existing Namespace. Returns (ApiKey, raw key)."""
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(namespace=namespace, prefix=raw_key[:12], digest=digest_of(raw_key))
    return api_key, raw_key


def revoke(api_key):
    """Revoke an ApiKey: refused from the next request on (keys are not cached)."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def find_key(raw_key):
    """The ApiKey (active or revoked, with its namespace) for a raw key, or None."""
    return ApiKey.objects.select_related("namespace").filter(digest=digest_of(raw_key)).first()


def revoke_api_key(raw_key):
    """Revoke a key given as text; returns the ApiKey, or None if there is no such key.
    (Not recorded: moderation.services.revoke_key is the audited way.)"""
    api_key = find_key(raw_key)
    return revoke(api_key) if api_key is not None else None
