from django.core.management.base import BaseCommand

from convoproject.live.retention import purge_expired


class Command(BaseCommand):
    help = (
        "Delete the live events too old to resume from (LIVE_RETENTION_SECONDS plus an hour). "
        "Every server process running streams also does it every LIVE_PURGE_SECONDS."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"Deleted {purge_expired()} expired live events.")
