"""The moderation REST API at /api/moderation/ (DRF and django-filter), for
moderation tools and bots: both services' messages (list, read, hide, unhide,
delete, clean up after an author) and the moderation log.

Staff users only, with a moderation token (`Authorization: Token <token>`,
auth.py) or a logged-in session with Django's CSRF token; permissions as in
admin (permissions.py). Thin views (views.py): parse, call one function of
convoproject.moderation.services, render (serializers.py). Lists are filtered
by the FilterSets of convoproject.moderation.selection and cursor-paged
newest first (pages.py). Every error is the service's envelope (errors.py).
The viewsets set their own authentication, parsers, negotiation and
pagination: the project's REST_FRAMEWORK settings are the RPCs'.
"""
