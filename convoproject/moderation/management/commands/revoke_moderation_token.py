from django.core.management.base import BaseCommand, CommandError

from convoproject.moderation.tokens import find_token, revoke_token


class Command(BaseCommand):
    help = "Revoke a moderation API token: it is refused from the next request on."

    def add_arguments(self, parser):
        parser.add_argument("token")

    def handle(self, *args, token, **options):
        found = find_token(token.strip())
        if found is None:
            raise CommandError("No such moderation token.")
        revoke_token(found)
        self.stdout.write(f"Revoked moderation token {found.prefix}… of {found.user.get_username()!r}.")
