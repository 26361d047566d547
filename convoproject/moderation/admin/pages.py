"""The confirmation page of a moderation step, and the fields that make it
post an admin action again."""

from django.contrib import admin
from django.contrib.admin.templatetags.admin_urls import admin_urlname
from django.template.response import TemplateResponse
from django.urls import reverse

ACTION_TEMPLATE = "admin/moderation/action_form.html"


def action_page(request, model_admin, *, title, summary, form, submit_label, carry=(), items=(), cancel_url=None):
    """The confirmation page of a moderation step: what will happen, a form
    (the reason, and more), and the hidden fields that carry an admin action."""
    opts = model_admin.model._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": opts,
        "title": title,
        "summary": summary,
        "items": items,
        "form": form,
        "carry": carry,
        "submit_label": submit_label,
        "cancel_url": cancel_url or reverse(admin_urlname(opts, "changelist")),
    }
    return TemplateResponse(request, ACTION_TEMPLATE, context)


def action_carry(request, action_name):
    """Hidden fields that make the confirmation page post the same admin action
    again, as Django's "action with confirmation" expects: the action, the
    selected ids as posted, select_across (then the action applies to the whole
    filtered list, which the URL's query string carries), and no "index"."""
    carry = [("action", action_name), ("select_across", "1" if request.POST.get("select_across") == "1" else "0")]
    return carry + [
        (admin.helpers.ACTION_CHECKBOX_NAME, pk) for pk in request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)
    ]
