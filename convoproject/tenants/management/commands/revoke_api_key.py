from django.core.management.base import BaseCommand, CommandError

from convoproject.moderation.services import revoke_key
from convoproject.tenants.keys import find_key


class Command(BaseCommand):
    help = "Revoke an API key: it is refused from the next request on. Recorded in the moderation log."

    def add_arguments(self, parser):
        parser.add_argument("key")
        parser.add_argument("--reason", default="Revoked with manage.py revoke_api_key")

    def handle(self, *args, key, reason, **options):
        api_key = find_key(key.strip())
        if api_key is None:
            raise CommandError("No such API key.")
        revoke_key(api_key, actor=None, reason=reason)
        self.stdout.write(f"Revoked API key {api_key.prefix}… of namespace {api_key.namespace.name!r}.")
