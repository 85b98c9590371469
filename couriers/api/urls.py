"""/api/v1/: couriers, deliveries, and the delivery of an order."""

from django.urls import path, re_path, register_converter

from couriers.api import views


class OrderIdConverter:
    """Any non-empty path segment(s), slashes and control characters too: the view applies the rule of
    order ids (gateway.order_ids), so that a malformed id gets the same 400 here as in a body."""

    regex = r"[\s\S]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(OrderIdConverter, "order_id")

urlpatterns = [
    path("", views.ApiRootView.as_view(), name="api-root"),
    path("couriers/", views.CourierListView.as_view(), name="courier-list"),
    path("couriers/<int:pk>/", views.CourierDetailView.as_view(), name="courier-detail"),
    path("deliveries/", views.DeliveryListView.as_view(), name="delivery-list"),
    path("deliveries/<int:pk>/", views.DeliveryDetailView.as_view(), name="delivery-detail"),
    path("deliveries/assign/", views.DeliveryAssignView.as_view(), name="delivery-assign"),
    path("deliveries/unassign/", views.DeliveryUnassignView.as_view(), name="delivery-unassign"),
    path("deliveries/cancel/", views.DeliveryCancelView.as_view(), name="delivery-cancel"),
    path("deliveries/settle-dispute/", views.DeliverySettleDisputeView.as_view(), name="delivery-settle-dispute"),
    path("orders/<order_id:order_id>/delivery/", views.OrderDeliveryView.as_view(), name="order-delivery"),
    re_path(r"^.*$", views.NotFoundView.as_view(), name="not-found"),
]
