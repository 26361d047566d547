"""How long the event log keeps what resuming needs (CONTRACT 9: at least
24 hours). A resume point older than LIVE_RETENTION_SECONDS gets `reset`
(convoproject.live.opening); events are kept an hour longer than that, so
that an event committed just before a resume point was made is still there
when the point is used just inside the limit."""

import datetime

from django.conf import settings
from django.utils import timezone

from .models import Event

MARGIN = datetime.timedelta(hours=1)


def expired_before() -> datetime.datetime:
    return timezone.now() - datetime.timedelta(seconds=settings.LIVE_RETENTION_SECONDS) - MARGIN


def purge_expired(*, batch: int = 10_000) -> int:
    """Delete the expired events, a batch per statement (no long lock on the
    log); their number."""
    cutoff, deleted = expired_before(), 0
    while True:
        ids = list(Event.objects.filter(created_at__lt=cutoff).order_by("id").values_list("id", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += Event.objects.filter(id__in=ids).delete()[0]
