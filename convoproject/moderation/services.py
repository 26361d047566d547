"""Moderation: hide, unhide and delete messages, clean up after a spammer,
delete conversations and chats, revoke API keys. Each function does its work
in one transaction and records one ModerationEvent. Admin calls these, and so
can a person in `manage.py shell`:

    from django.contrib.auth import get_user_model
    from convoproject.moderation import services
    from streams.models import Message
    me = get_user_model().objects.get(username="admin")
    services.hide_messages(Message.objects.filter(author_id="spammer"), actor=me, reason="spam")

Each takes what it acts on first and the rest by keyword.

Every function works for Streams and Chats alike: it takes a queryset or an
object of either app's models.
"""

import datetime

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models, transaction
from django.utils import timezone

from convoproject.live import publish
from convoproject.tenants.keys import revoke
from convoproject.tenants.models import ApiKey, Namespace

from .models import ModerationEvent
from .selection import author_selection, selected

Action = ModerationEvent.Action
# An event lists the ids it touched up to this many; its count is always exact.
MAX_LISTED_IDS = 1000


class ReasonRequired(ValueError):
    pass


def require_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired("A moderation action needs a reason.")
    return reason


def record(
    *,
    actor: AbstractBaseUser | None,
    action: str,
    namespace: Namespace | None,
    target_type: str,
    target: str,
    count: int,
    reason: str,
    details: dict | None = None,
) -> ModerationEvent:
    return ModerationEvent.objects.create(
        actor=actor,
        actor_name=actor.get_username() if actor else "system",
        action=action,
        namespace=namespace,
        target_type=target_type,
        target=target,
        count=count,
        reason=reason,
        details=details or {},
    )


def selection(messages: models.QuerySet) -> tuple[Namespace | None, list[str]]:
    """(the namespace if there is just one, else None; up to MAX_LISTED_IDS + 1
    ids) of a message queryset, before it is changed: small queries, whatever
    its size."""
    namespaces = list(messages.order_by().values_list("namespace", flat=True).distinct()[:2])
    ids = [str(pk) for pk in messages.order_by().values_list("pk", flat=True)[: MAX_LISTED_IDS + 1]]
    namespace = Namespace.objects.get(pk=namespaces[0]) if len(namespaces) == 1 else None
    return namespace, ids


def report_model_of(message_model: type[models.Model]) -> type[models.Model]:
    """streams.Report or chats.Report: the reports of a message model's messages."""
    return message_model._meta.get_field("reports").related_model


def queue_model_of(message_model: type[models.Model]) -> type[models.Model]:
    """streams.ReportedMessage or chats.ReportedMessage: the review queue's items."""
    return message_model._meta.get_field("review").related_model


def delete_reports_of(messages: models.QuerySet) -> None:
    """Delete the reports and queue items of the messages of a queryset, which
    are about to be deleted: two DELETEs with a subquery, whatever the size.
    (Their foreign keys do not cascade: see streams.models.Report.)"""
    ids = messages.order_by().values("pk")
    report_model_of(messages.model).objects.filter(message__in=ids).delete()
    queue_model_of(messages.model).objects.filter(message__in=ids).delete()


def _change_messages(messages, *, actor, reason, action, target_type=None, target=None, details=None, **changes):
    reason = require_reason(reason)
    with transaction.atomic():
        # Their conversations or chats locked first: a message is appended
        # either before (and changed with the rest) or after, and the live
        # events of each are written in commit order (convoproject.live).
        publish.lock_parents(messages)
        namespace, ids = selection(messages)
        if action == Action.UNHIDE:
            publish.messages_restored(messages)
        elif action in (Action.HIDE, Action.HIDE_AUTHOR, Action.AUTO_HIDE):
            publish.messages_removed(messages)
        else:  # deleted: the visible ones disappear; the hidden ones were removed already
            publish.messages_removed(messages.filter(hidden=False))
        if action in (Action.DELETE, Action.DELETE_AUTHOR):
            delete_reports_of(messages)
            count = messages.order_by().delete()[0]
        else:
            count = messages.order_by().update(**changes)
        listed = ids[:MAX_LISTED_IDS]
        event = record(
            actor=actor,
            action=action,
            namespace=namespace,
            target_type=target_type or messages.model._meta.label_lower,
            target=target or (f"message {listed[0]}" if count == 1 and len(ids) == 1 else f"{count} messages"),
            count=count,
            reason=reason,
            details={**(details or {}), "ids": listed, "ids_complete": len(ids) <= MAX_LISTED_IDS},
        )
    return event


def _hiding(actor, reason):
    return {"hidden": True, "hidden_at": timezone.now(), "hidden_by": actor, "hidden_reason": require_reason(reason)}


def hide_messages(messages: models.QuerySet, *, actor: AbstractBaseUser | None, reason: str) -> ModerationEvent:
    """Hide the visible messages of a queryset: gone from every API read at once."""
    return _change_messages(
        messages.filter(hidden=False), actor=actor, reason=reason, action=Action.HIDE, **_hiding(actor, reason)
    )


def hide_messages_automatically(messages: models.QuerySet, *, reason: str) -> ModerationEvent:
    """Hide the visible messages of a queryset because users reported them
    (convoproject.moderation.reports: a namespace's threshold): no actor."""
    return _change_messages(
        messages.filter(hidden=False), actor=None, reason=reason, action=Action.AUTO_HIDE, **_hiding(None, reason)
    )


def unhide_messages(messages: models.QuerySet, *, actor: AbstractBaseUser | None, reason: str) -> ModerationEvent:
    """Unhide the hidden messages of a queryset: back in API reads at once."""
    return _change_messages(
        messages.filter(hidden=True),
        actor=actor,
        reason=reason,
        action=Action.UNHIDE,
        hidden=False,
        hidden_at=None,
        hidden_by=None,
        hidden_reason="",
    )


def delete_messages(messages: models.QuerySet, *, actor: AbstractBaseUser | None, reason: str) -> ModerationEvent:
    return _change_messages(messages, actor=actor, reason=reason, action=Action.DELETE)


def author_messages(
    message_model: type[models.Model],
    *,
    namespace: Namespace,
    author_id: str,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
) -> models.QuerySet:
    """One author's messages in one namespace, optionally sent in [since, until):
    the selection every clean-up makes (convoproject.moderation.selection).
    InvalidSelection (a ValueError) if since is not before until."""
    data = {"namespace": namespace, "author_id": author_id, "sent_after": since, "sent_before": until}
    return selected(author_selection(message_model, data))


def clean_up_author(
    message_model: type[models.Model],
    *,
    namespace: Namespace,
    author_id: str,
    actor: AbstractBaseUser | None,
    reason: str,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    delete: bool = False,
) -> ModerationEvent:
    """Hide (or delete) every message of one author in a namespace, optionally
    only within [since, until): one UPDATE (or DELETE), one audit entry with
    the count, however many messages there are."""
    messages = author_messages(message_model, namespace=namespace, author_id=author_id, since=since, until=until)
    window = {"since": since.isoformat() if since else None, "until": until.isoformat() if until else None}
    described = {
        "target_type": message_model._meta.label_lower,
        "target": f"messages of {author_id!r} in {namespace.name}",
        "details": {"author_id": author_id, **window},
    }
    if delete:
        return _change_messages(messages, actor=actor, reason=reason, action=Action.DELETE_AUTHOR, **described)
    return _change_messages(
        messages.filter(hidden=False),
        actor=actor,
        reason=reason,
        action=Action.HIDE_AUTHOR,
        **described,
        **_hiding(actor, reason),
    )


def delete_with_messages(
    parent: models.Model, *, actor: AbstractBaseUser | None, reason: str
) -> ModerationEvent | None:
    """Delete a conversation or chat and all its messages in one transaction."""
    reason = require_reason(reason)
    model = type(parent)
    with transaction.atomic():
        # Locked, so that no message is added between the count and the delete.
        parent = model.objects.select_for_update(of=("self",)).filter(pk=parent.pk).select_related("namespace").first()
        if parent is None:
            return None
        pk, namespace, label = parent.pk, parent.namespace, str(parent)
        count = parent.messages.count()
        publish.parent_deleted(parent)
        delete_reports_of(parent.messages.all())
        parent.delete()
        return record(
            actor=actor,
            action=Action.DELETE_CONVERSATION if model._meta.model_name == "conversation" else Action.DELETE_CHAT,
            namespace=namespace,
            target_type=model._meta.label_lower,
            target=f"{model._meta.verbose_name} {pk} ({label})",
            count=count,
            reason=reason,
            details={"id": str(pk), "messages": count},
        )


def revoke_key(api_key: ApiKey, *, actor: AbstractBaseUser | None, reason: str) -> ModerationEvent:
    """Revoke an API key (refused from the next request on). actor may be None
    for an operator at the command line."""
    reason = require_reason(reason)
    with transaction.atomic():
        was_active = api_key.revoked_at is None
        revoke(api_key)
        return record(
            actor=actor,
            action=Action.REVOKE_KEY,
            namespace=api_key.namespace,
            target_type="tenants.apikey",
            target=f"API key {api_key.prefix}…",
            count=1 if was_active else 0,
            reason=reason,
            details={"key_id": api_key.pk},
        )
