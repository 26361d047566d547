"""Who calls the moderation API: a moderation token or a staff session.
API keys (the RPCs' `Bearer` keys of a namespace) never do."""

from rest_framework import authentication, exceptions

from ..tokens import find_active_token
from .errors import AUTHENTICATE


class ModerationTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <token>` (convoproject.moderation.tokens). No
    header: the session decides. A wrong, revoked or inactive user's token,
    or any other scheme (an API key's Bearer), is 401."""

    keyword = "token"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        raw = raw.strip()
        if scheme.lower() != self.keyword or not raw or len(raw) > 200:
            raise exceptions.AuthenticationFailed(
                "Expected 'Authorization: Token <moderation token>'; API keys do not grant the moderation API"
            )
        token = find_active_token(raw)
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked moderation token")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token's user is inactive")
        return token.user, token

    def authenticate_header(self, request):
        return AUTHENTICATE


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """Django's login session (admin's), with DRF's CSRF check: an unsafe
    method needs the CSRF token in X-CSRFToken."""
