"""Per-caller rate limits: N requests per minute per API key (or per logged-in
user for browser calls), off unless RATE_LIMIT_PER_MINUTE or the key's own
`rate_limit_per_minute` sets one.

The count lives in the database, not in a per-process cache, so that several
app servers on one PostgreSQL share it: one upsert per request counts the
request and returns the count in the same statement, atomically on both
databases. The window is the calendar minute, so a caller may send up to 2N
around a minute boundary; the answer past the limit is 429 with Retry-After
(the seconds until the minute ends).
"""

import math
import time

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from convoproject.sql import Statement
from convoproject.tenants.models import ApiKey

from .models import RateCounter

WINDOW_SECONDS = 60

_COUNTERS = RateCounter._meta.db_table
count_request_statement = Statement(
    f"""INSERT INTO {_COUNTERS} (bucket, minute, count) VALUES (%s, %s, 1)
    ON CONFLICT (bucket) DO UPDATE SET
        count = CASE WHEN {_COUNTERS}.minute = excluded.minute THEN {_COUNTERS}.count + 1 ELSE 1 END,
        minute = excluded.minute
    RETURNING count""",
    params=[None, None],
    columns=[("count", None)],
)


def limit_for(request):
    """(bucket, requests per minute) of the caller, or None when unlimited."""
    if isinstance(request.auth, ApiKey):
        bucket = f"key:{request.auth.pk}"
        limit = request.auth.rate_limit_per_minute
    elif request.user is not None and request.user.is_authenticated:
        bucket = f"user:{request.user.pk}"
        limit = None
    else:
        return None  # refused anyway by authentication
    if limit is None:
        limit = settings.RATE_LIMIT_PER_MINUTE
    return (bucket, limit) if limit else None


def count_request(bucket: str, minute: int) -> int:
    """Count one request of `bucket` in `minute`; the count so far, this one included."""
    return count_request_statement.one(bucket, minute).count


class RateLimitThrottle(BaseThrottle):
    def allow_request(self, request, view):
        caller = limit_for(request)
        if caller is None:
            return True
        bucket, limit = caller
        now = time.time()
        minute = int(now // WINDOW_SECONDS)
        if count_request(bucket, minute) <= limit:
            return True
        self.retry_after = max(1, math.ceil((minute + 1) * WINDOW_SECONDS - now))
        return False

    def wait(self):
        return self.retry_after
