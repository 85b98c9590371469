"""Who may do what: any signed-in user reads; each write needs its Django model permission.

Staff status grants nothing by itself here, as in the admin: the `dispatchers` group (made by a data
migration) holds what dispatchers need, superusers hold everything.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

DISPATCHERS_GROUP = "dispatchers"
ADD_COURIER = "couriers.add_courier"
CHANGE_COURIER = "couriers.change_courier"
DELETE_COURIER = "couriers.delete_courier"
DISPATCH = "couriers.dispatch_delivery"


class ReadOrModelPermission(BasePermission):
    """Reads for every signed-in user; a write needs the permission the view's `write_permissions` names
    for its method."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return True
        needed = getattr(view, "write_permissions", {}).get(request.method)
        if needed is None:
            # A method the view does not have: let it answer 405 rather than 403.
            return not hasattr(view, request.method.lower())
        if user.has_perm(needed):
            return True
        self.message = f"This needs the permission {needed} (the dispatchers group has what dispatchers need)."
        return False
