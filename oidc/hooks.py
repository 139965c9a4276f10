"""What the OpenID provider does when the approval engine finalizes a request (registered in
OidcConfig.ready()): in CIBA ping mode, tell the client that its auth_req_id can be redeemed.

The notification is a row of the webhook outbox, written in the transaction of the change, so it
survives a worker crash and is retried like any webhook (CONTRACT §5): POST {"auth_req_id"} with
`Authorization: Bearer <client_notification_token>` (CIBA Core §10.2)."""

from __future__ import annotations

from approvals.models import ApprovalRequest
from nemid_app_backend.db import FixedSelect
from oidc.ciba import APPROVAL_ORIGIN, notification_token
from oidc.models import BackchannelRequest, Client
from webhooks.services import webhook_event_create
from webhooks.tasks import deliver_webhook_on_commit

PING_EVENT = "ciba.ping"

_BACKCHANNEL = FixedSelect(BackchannelRequest, where=("approval",), related=("client",))


def approval_finalized(approval: ApprovalRequest) -> None:
    if approval.origin not in (APPROVAL_ORIGIN, ""):  # known not to be CIBA's: no backchannel request to read
        return
    backchannel = _BACKCHANNEL.one(approval.pk)
    if backchannel is None or backchannel.mode != Client.CibaMode.PING:
        return
    event = webhook_event_create(
        relying_party=approval.relying_party,
        event_type=PING_EVENT,
        url=backchannel.client.ciba_notification_endpoint,
        data={},
        payload={"auth_req_id": backchannel.auth_req_id},
        object_id=str(approval.pk),
        bearer_token=notification_token(backchannel),
    )
    deliver_webhook_on_commit(event)
