from slack_bolt.async_app import AsyncApp

from app.ids import ActionId, InputActionId
from app.listeners.actions.incident_card import (
    handle_acknowledge_button,
    handle_escalate_button,
    handle_reassign_button,
    handle_resolve_button,
)
from app.listeners.actions.more_menu import handle_more_menu, handle_policy_options
from app.listeners.actions.oncall_share import handle_share_oncall_button


def register(app: AsyncApp) -> None:
    app.action(ActionId.ACKNOWLEDGE)(handle_acknowledge_button)
    app.action(ActionId.RESOLVE)(handle_resolve_button)
    app.action(ActionId.ESCALATE)(handle_escalate_button)
    app.action(ActionId.REASSIGN)(handle_reassign_button)
    app.action(ActionId.SHARE_ONCALL)(handle_share_oncall_button)
    app.action(ActionId.MORE)(handle_more_menu)
    app.options(InputActionId.POLICY)(handle_policy_options)
