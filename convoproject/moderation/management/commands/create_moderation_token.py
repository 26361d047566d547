from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from convoproject.moderation.tokens import create_token


class Command(BaseCommand):
    help = (
        "Create a moderation API token for USERNAME (an active staff user): "
        "'Authorization: Token <token>'. The token is printed once, on the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = get_user_model().objects.filter(username=username.strip()).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not (user.is_active and user.is_staff):
            raise CommandError(f"{username!r} is not an active staff user: the moderation API would refuse it.")
        token, raw = create_token(user)
        self.stdout.write(f"Created moderation token {token.prefix}… for {username!r}. It is shown only once:")
        self.stdout.write(raw)
