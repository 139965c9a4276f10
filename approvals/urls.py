from typing import Any

from django.urls import URLPattern, path

from approvals import apis


def _patterns(approval_detail: Any) -> list[URLPattern]:
    return [
        path("approvals", apis.ApprovalCreateApi.as_view(), name="approval-create"),
        # <str:...>, not <uuid:...>: a malformed id is answered 404 by the view, after authentication.
        path("approvals/<str:approval_id>", approval_detail, name="approval-detail"),
        path("approvals/<str:approval_id>/cancel", apis.ApprovalCancelApi.as_view(), name="approval-cancel"),
        path("device/approvals", apis.DeviceApprovalListApi.as_view(), name="device-approval-list"),
        path(
            "device/approvals/<str:approval_id>/decision",
            apis.DeviceApprovalDecisionApi.as_view(),
            name="device-approval-decision",
        ),
    ]


urlpatterns = _patterns(apis.approval_detail)

# For the WSGI handler of nemid_app_backend.http_dispatch, which never receives a long poll
# (`?wait=N`): the plain read goes straight to its DRF view instead of through the async view.
sync_urlpatterns = _patterns(apis.ApprovalDetailApi.as_view())
