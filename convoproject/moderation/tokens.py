"""Moderation API tokens: made, found and revoked here; the commands, admin
and the API's authentication (convoproject.moderation.api.auth) call these.
A request finds its token by the SHA-256 digest of what it sent (the unique
index on `digest`), as API keys do (convoproject.tenants.keys); no cache: a
revoked token is refused from the next request on."""

import secrets

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from convoproject.tenants.keys import digest_of

from .models import ModerationToken

TOKEN_PREFIX = "cvm_"


def create_token(user: AbstractBaseUser) -> tuple[ModerationToken, str]:
    """A new token of `user`: (ModerationToken, the raw token). The raw token
    exists only in this return value."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ModerationToken.objects.create(user=user, prefix=raw[:12], digest=digest_of(raw))
    return token, raw


def find_token(raw: str) -> ModerationToken | None:
    """The token (active or revoked, with its user) of a raw token, or None."""
    return ModerationToken.objects.select_related("user").filter(digest=digest_of(raw)).first()


def find_active_token(raw: str) -> ModerationToken | None:
    token = find_token(raw)
    return token if token is not None and token.is_active else None


def revoke_token(token: ModerationToken) -> ModerationToken:
    """Refused from the next request on."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
