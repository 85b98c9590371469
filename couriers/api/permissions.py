"""Who may do what: any signed-in user reads; staff and dispatchers write."""

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

DISPATCHERS_GROUP = "dispatchers"


class IsDispatcherOrReadOnly(BasePermission):
    message = "Only staff and members of the dispatchers group may change couriers and deliveries."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return True
        return user.is_staff or user.groups.filter(name=DISPATCHERS_GROUP).exists()
