"""Every Slack identifier the bot owns, so the manifest, the listeners and the tests
agree on one spelling."""

from enum import StrEnum


class Command(StrEnum):
    INCIDENT = "/incident"
