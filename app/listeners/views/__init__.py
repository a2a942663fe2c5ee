from slack_bolt.async_app import AsyncApp

from app.ids import CallbackId
from app.listeners.views.card_modals import (
    handle_reassign_submission,
    handle_resolve_submission,
)


def register(app: AsyncApp) -> None:
    app.view(CallbackId.RESOLVE_MODAL)(handle_resolve_submission)
    app.view(CallbackId.REASSIGN_MODAL)(handle_reassign_submission)
