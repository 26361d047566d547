"""Who may do what, as in admin: active staff only; reading needs the view
permission of the model (the Moderators group has them), hiding and
unhiding `<app>.moderate_message`, deleting is for superusers."""

from rest_framework import permissions, serializers


def is_active_staff(user) -> bool:
    return user is not None and user.is_authenticated and user.is_active and user.is_staff


class IsActiveStaff(permissions.BasePermission):
    message = "Only active staff users may use the moderation API"

    def has_permission(self, request, view):
        return is_active_staff(request.user)


class CanView(permissions.BasePermission):
    """The view permission of the view's model, e.g. streams.view_message."""

    message = "You may not view these"

    def has_permission(self, request, view):
        opts = view.model._meta
        return request.user.has_perm(f"{opts.app_label}.view_{opts.model_name}")


class CanModerate(permissions.BasePermission):
    """`<app>.moderate_message` of the view's service: hide, unhide, clean up."""

    message = "You may not moderate these messages"

    def has_permission(self, request, view):
        return request.user.has_perm(f"{view.service_label}.moderate_message")


class IsSuperuser(permissions.BasePermission):
    message = "Only superusers may delete messages"

    def has_permission(self, request, view):
        return request.user.is_superuser


class SuperuserToDelete(permissions.BasePermission):
    """A clean-up that deletes (`"delete": true`) is for superusers only."""

    message = IsSuperuser.message

    def has_permission(self, request, view):
        data = request.data
        deletes = isinstance(data, dict) and data.get("delete") in serializers.BooleanField.TRUE_VALUES
        return request.user.is_superuser or not deletes
