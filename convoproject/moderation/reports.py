"""Reports (CONTRACT 10) and their review: a user files a report, the
namespace's threshold may hide the message at once, and a moderator confirms
(hides the message; its open reports become "actioned") or dismisses (they
become "dismissed"; a message the threshold hid is shown again). The shell
API, which the RPCs, admin's review queue and the moderation REST API call:

    from convoproject.moderation import reports
    from streams.models import Message
    reports.confirm_reports(Message.objects.filter(pk=...), actor=me, reason="spam, as reported")

Each works for Streams and Chats alike: a message model's reports are
`Message.reports` and its queue item `Message.review` (streams.models,
chats.models). Locks are taken in one order everywhere, the conversation or
chat first, then the queue items, then the messages (as moderation.services
does), so that a report, a moderator's action and a new message never
deadlock.
"""

import uuid

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from convoproject.live import publish
from convoproject.tenants.models import Namespace

from . import services
from .models import ModerationEvent
from .services import queue_model_of, report_model_of

Action = ModerationEvent.Action


def locked_message(
    message_model: type[models.Model], *, namespace: Namespace, message_id: uuid.UUID | None
) -> models.Model | None:
    """The namespace's message `message_id` (with its namespace and parent), its
    conversation or chat locked for this transaction, as for any change to its
    messages; None if there is none. What a report is filed on."""
    if message_id is None:
        return None
    parent = message_model.PARENT
    messages = message_model.objects.filter(namespace=namespace, pk=message_id).select_related("namespace", parent)
    return messages.select_for_update(of=(parent,)).first()


def file_report(message: models.Model, *, reporter_id: str, reason: str, description: str = ""):
    """The open report of `reporter_id` on `message`: the one already open
    (unchanged), or a new one, counted on the message's queue item; at the
    namespace's threshold the message is hidden at once. The caller has
    checked the message (namespace, membership) and holds its conversation's
    or chat's lock (streams.services, chats.services), in this transaction."""
    Report = report_model_of(type(message))
    open_reports = Report.objects.filter(message=message, reporter_id=reporter_id, state=Report.State.OPEN)
    with transaction.atomic():
        report = open_reports.first()
        if report is not None:
            return report
        try:
            with transaction.atomic():  # a savepoint: the unique index settles a race the locks did not
                report = Report.objects.create(
                    namespace_id=message.namespace_id,
                    message=message,
                    **Report.parent_of(message),
                    reporter_id=reporter_id,
                    reason=reason,
                    description=description or "",
                    created_at=timezone.now(),
                )
        except IntegrityError:
            return open_reports.get()
        item = _count_on_queue(message, report)
        threshold = message.namespace.auto_hide_threshold
        if threshold and item.open_reports >= threshold and not message.hidden:
            _hide_automatically(message, item)
    return report


def _count_on_queue(message, report):
    """The message's queue item with `report` counted in it."""
    Item = queue_model_of(type(message))
    item = Item.objects.select_for_update().filter(message=message).first()
    new = item is None
    if new:
        item = Item(message=message, namespace_id=message.namespace_id)
    if item.state != Item.State.OPEN or not item.open_reports:  # a new round of reports
        item.state, item.open_reports, item.reasons = Item.State.OPEN, 0, ""
        item.first_reported_at = item.last_reported_at = None
    item.open_reports += 1
    item.first_reported_at = item.first_reported_at or report.created_at
    item.last_reported_at = report.created_at
    reasons = set(filter(None, item.reasons.split(","))) | {report.reason}
    # Listed in the order of the reason's choices (convoproject.messaging.models.Reason).
    order = [value for value, _ in report_model_of(type(message))._meta.get_field("reason").choices]
    item.reasons = ",".join(reason for reason in order if reason in reasons)
    item.save(force_insert=new)
    return item


def _hide_automatically(message, item):
    count = item.open_reports
    services.hide_messages_automatically(
        type(message).objects.filter(pk=message.pk),
        reason=f"{count} users reported it (the namespace's threshold is {message.namespace.auto_hide_threshold})",
    )
    item.hidden_automatically = True
    item.save(update_fields=["hidden_automatically"])
    message.hidden = True


def confirm_reports(
    messages: models.QuerySet, *, actor: AbstractBaseUser | None, reason: str
) -> ModerationEvent | None:
    """Confirm the open reports of the messages of a queryset: the messages are
    hidden (if they are not yet), their open reports become "actioned". One
    entry in the moderation log (and one for the hiding). None if none of
    them had an open report."""
    return _resolve(messages, actor=actor, reason=reason, confirm=True)


def dismiss_reports(
    messages: models.QuerySet, *, actor: AbstractBaseUser | None, reason: str
) -> ModerationEvent | None:
    """Dismiss the open reports of the messages of a queryset: they become
    "dismissed", and a message the threshold hid is shown again. One entry in
    the moderation log (and one for the unhiding). None if none of them had an
    open report."""
    return _resolve(messages, actor=actor, reason=reason, confirm=False)


def _resolve(messages, *, actor, reason, confirm):
    reason = services.require_reason(reason)
    model = messages.model
    Report, Item = report_model_of(model), queue_model_of(model)
    with transaction.atomic():
        publish.lock_parents(messages)
        items = Item.objects.filter(message__in=messages.order_by().values("pk"), state=Item.State.OPEN)
        count = len(items.select_for_update().order_by("pk").values_list("pk", flat=True))
        if not count:
            return None
        # An item's primary key is its message's id.
        reported = model.objects.filter(pk__in=items.values("pk"))
        namespace, ids = services.selection(reported)
        if confirm:
            if reported.filter(hidden=False).exists():
                services.hide_messages(reported, actor=actor, reason=reason)
        else:
            hidden_automatically = reported.filter(review__hidden_automatically=True, hidden=True)
            if hidden_automatically.exists():
                services.unhide_messages(hidden_automatically, actor=actor, reason=reason)
        now, state = timezone.now(), Report.State.ACTIONED if confirm else Report.State.DISMISSED
        resolved = Report.objects.filter(message__in=items.values("pk"), state=Report.State.OPEN).update(
            state=state, resolved_at=now, resolved_by=actor, resolution_note=reason
        )
        items.update(
            state=state,
            open_reports=0,
            reasons="",
            first_reported_at=None,
            last_reported_at=None,
            hidden_automatically=False,
            reviewed_at=now,
            reviewed_by=actor,
        )
        listed = ids[: services.MAX_LISTED_IDS]
        return services.record(
            actor=actor,
            action=Action.CONFIRM_REPORTS if confirm else Action.DISMISS_REPORTS,
            namespace=namespace,
            target_type=model._meta.label_lower,
            target=f"reports of message {listed[0]}" if count == 1 else f"reports of {count} messages",
            count=resolved,
            reason=reason,
            details={"messages": count, "ids": listed, "ids_complete": len(ids) <= services.MAX_LISTED_IDS},
        )
