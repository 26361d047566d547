"""The people of the moderation tests: a superuser, a member of the
Moderators group (made by a migration), plain staff; an admin client logged
in as one of them, and admin URLs. The fixtures `superuser`, `moderator`
and `staff` (tests/conftest.py) make them."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils.http import urlencode


def make_superuser(username="root"):
    return get_user_model().objects.create_superuser(username, email=f"{username}@example.com", password=None)


def make_moderator(username="mod"):
    user = get_user_model().objects.create_user(username, is_staff=True)
    user.groups.add(Group.objects.get(name="Moderators"))
    return user


def make_staff(username="staff"):
    return get_user_model().objects.create_user(username, is_staff=True)


def logged_in(user):
    """A test client with `user`'s admin session."""
    browser = Client()
    browser.force_login(user)
    return browser


def url(name, *args, **query):
    """reverse(name, args) with a query string."""
    return reverse(name, args=args) + ("?" + urlencode(query) if query else "")
