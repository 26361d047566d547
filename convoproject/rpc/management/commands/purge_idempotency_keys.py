from django.core.management.base import BaseCommand

from convoproject.rpc.idempotency import purge_expired


class Command(BaseCommand):
    help = "Delete the remembered answers of Idempotency-Keys older than 24 hours (they no longer count)."

    def handle(self, *args, **options):
        self.stdout.write(f"Deleted {purge_expired()} expired Idempotency-Key entries.")
