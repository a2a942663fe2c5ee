from slack_bolt.async_app import AsyncApp

from app.ids import CallbackId
from app.listeners.views.card_modals import (
    handle_reassign_submission,
    handle_resolve_submission,
)
from app.listeners.views.escalate_modal import handle_escalate_submission
from app.listeners.views.menu_modals import READERS, handle_menu_submission
from app.listeners.views.page_oncall_modal import handle_page_oncall_submission


def register(app: AsyncApp) -> None:
    app.view(CallbackId.RESOLVE_MODAL)(handle_resolve_submission)
    app.view(CallbackId.REASSIGN_MODAL)(handle_reassign_submission)
    app.view(CallbackId.ESCALATE_MODAL)(handle_escalate_submission)
    app.view(CallbackId.PAGE_ONCALL_MODAL)(handle_page_oncall_submission)
    for callback_id in READERS:
        app.view(callback_id)(handle_menu_submission)
