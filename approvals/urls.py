from django.urls import path

from approvals import apis

urlpatterns = [
    path("approvals", apis.ApprovalCreateApi.as_view(), name="approval-create"),
    # <str:...>, not <uuid:...>: a malformed id is answered 404 by the view, after authentication.
    path("approvals/<str:approval_id>", apis.ApprovalDetailApi.as_view(), name="approval-detail"),
    path("approvals/<str:approval_id>/cancel", apis.ApprovalCancelApi.as_view(), name="approval-cancel"),
    path("device/approvals", apis.DeviceApprovalListApi.as_view(), name="device-approval-list"),
    path(
        "device/approvals/<str:approval_id>/decision",
        apis.DeviceApprovalDecisionApi.as_view(),
        name="device-approval-decision",
    ),
]
