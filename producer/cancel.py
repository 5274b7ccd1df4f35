"""``DELETE /v2.1/push/{messageId}``: cancel what is still scheduled of a message
(``domain.messages.cancel``, where the locking against the outbox sweeper is described)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from domain.messages.cancel import cancel_scheduled
from producer.auth import authenticate
from producer.envelope import respond
from producer.history import message_not_found, path_message_id
from producer.state import get_state


async def cancel_message(request: Request) -> Response:
    state = get_state(request)
    caller = await authenticate(request, "push:send")
    message_id = path_message_id(request)
    async with state.pool.connection() as conn:
        done = await cancel_scheduled(conn, caller.app_id, message_id)
    if done is None:
        raise message_not_found(request.path_params["message_id"])
    return respond(request, 200, [{
        "messageId": done.message_id, "externalId": done.external_id, "canceled": done.canceled,
        "dispatches": [{"dispatchId": d.id, "deviceToken": d.token, "platform": d.platform,
                        "status": d.status} for d in done.dispatches]}])
