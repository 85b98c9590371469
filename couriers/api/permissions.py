"""Who may do what: each read and each write needs its Django model permission, as in the admin.

Staff status grants nothing by itself here: the `readers` and `dispatchers` groups (made by data migrations)
hold what other teams' services and dispatchers need, superusers hold everything. Couriers' phone numbers are
personal data: shown only to holders of `view_courier_phone` (dispatchers have it, readers do not).
"""

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

DISPATCHERS_GROUP = "dispatchers"
READERS_GROUP = "readers"
ADD_COURIER = "couriers.add_courier"
CHANGE_COURIER = "couriers.change_courier"
DELETE_COURIER = "couriers.delete_courier"
DISPATCH = "couriers.dispatch_delivery"
VIEW_COURIER = "couriers.view_courier"
VIEW_DELIVERY = "couriers.view_delivery"
VIEW_COURIER_PHONE = "couriers.view_courier_phone"


def may_see_phones(request: Request | None) -> bool:
    return request is not None and request.user.has_perm(VIEW_COURIER_PHONE)


class ReadOrModelPermission(BasePermission):
    """A read needs the view's `read_permission` (None: any signed-in user, for the API's root); a write needs
    the permission the view's `write_permissions` names for its method."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            needed = getattr(view, "read_permission", None)
            return needed is None or self._granted(user, needed)
        needed = getattr(view, "write_permissions", {}).get(request.method)
        if needed is None:
            # A method the view does not have: let it answer 405 rather than 403.
            return not hasattr(view, request.method.lower())
        return self._granted(user, needed)

    def _granted(self, user: Any, needed: str) -> bool:
        if user.has_perm(needed):
            return True
        self.message = (
            f"This needs the permission {needed} (the readers group has what reading needs, "
            "the dispatchers group what dispatchers need)."
        )
        return False
