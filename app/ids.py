"""Every Slack identifier the bot owns, so the manifest, the listeners, the Block Kit
builders and the tests agree on one spelling."""

from enum import StrEnum


class Command(StrEnum):
    INCIDENT = "/incident"


class ActionId(StrEnum):
    """Buttons on an incident card; each button's `value` is a `CardState` JSON."""

    ACKNOWLEDGE = "incident_ack"
    RESOLVE = "incident_resolve"
    ESCALATE = "incident_escalate"
    REASSIGN = "incident_reassign"
    SHARE_ONCALL = "oncall_share"  # on the private on-call answer: post it in the channel
    MORE = "incident_more"  # the card's More menu; each option's value is a `MenuChoice`


class MenuChoice(StrEnum):
    """The entries of a card's More menu; each opens a small modal."""

    SNOOZE = "snooze"
    PRIORITY = "priority"
    URGENCY = "urgency"
    TEAM = "reassign_team"
    MERGE = "merge"
    BRIDGE = "bridge"


class CallbackId(StrEnum):
    """Modals we open (view callback ids)."""

    RESOLVE_MODAL = "resolve_incident_modal"
    REASSIGN_MODAL = "reassign_incident_modal"
    ESCALATE_MODAL = "escalate_incident_modal"
    PAGE_ONCALL_MODAL = "page_oncall_modal"
    SNOOZE_MODAL = "snooze_incident_modal"
    PRIORITY_MODAL = "priority_incident_modal"
    URGENCY_MODAL = "urgency_incident_modal"
    TEAM_MODAL = "reassign_team_incident_modal"
    MERGE_MODAL = "merge_incident_modal"
    BRIDGE_MODAL = "bridge_incident_modal"


class Shortcut(StrEnum):
    """Message shortcuts, declared in manifest.yml with these callback ids."""

    ESCALATE = "escalate_incident"
    ADD_NOTE = "add_to_incident_notes"
    PAGE_ONCALL = "page_oncall_about_this"


class EventType(StrEnum):
    """Events API subscriptions (manifest.yml `bot_events`)."""

    APP_MENTION = "app_mention"


class BlockId(StrEnum):
    """Inputs inside our modals, where Slack reports the values and our inline errors."""

    RESOLUTION = "resolution"
    ASSIGNEE = "assignee"
    LEVEL = "level"
    NOTE = "note"
    TITLE = "title"
    SERVICE = "service"
    SERVICE_NAME = "service_name"
    URGENCY = "urgency"
    DURATION = "duration"
    CUSTOM_DURATION = "custom_duration"
    PRIORITY = "priority"
    POLICY = "policy"
    MERGE_TARGET = "merge_target"
    BRIDGE_URL = "bridge_url"
    BRIDGE_NUMBER = "bridge_number"


class InputActionId(StrEnum):
    RESOLUTION = "resolution_input"
    ASSIGNEE = "assignee_select"
    LEVEL = "level_input"
    NOTE = "note_input"
    TITLE = "title_input"
    SERVICE = "service_select"
    SERVICE_NAME = "service_name_input"
    URGENCY = "urgency_choice"  # radio buttons: high or low
    DURATION = "duration_select"
    CUSTOM_DURATION = "custom_duration_input"
    PRIORITY = "priority_select"
    POLICY = "policy_select"  # an external select: options load as the person types
    MERGE_TARGET = "merge_target_input"
    BRIDGE_URL = "bridge_url_input"
    BRIDGE_NUMBER = "bridge_number_input"


# Message metadata on every card, so a thread reply can find its incident.
CARD_METADATA_EVENT = "incident_posted"
