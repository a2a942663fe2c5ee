"""Incident cards in Slack: drawing one from PagerDuty's answer, posting and redrawing it,
the lines in its thread, and finding the incident of a thread. One card per incident per
channel; where each one is lives in the store."""

import copy
import hashlib
import json
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from app.blocks.card import LastAction, gone_card, incident_card, merged_card
from app.errors import SLACK_FAILURES, SlackUnavailable, slack_error_reason
from app.ids import CARD_METADATA_EVENT
from app.incidents.escalation import escalation_of
from app.incidents.installation import InstallationLookup
from app.incidents.outcomes import Outcome, RecentActions
from app.incidents.status_updates import StatusUpdates
from app.incidents.words import INCIDENT_ID
from app.pagerduty.client import PagerDutyClient
from app.pagerduty.drawing_cache import DrawingCache
from app.pagerduty.models import Incident, Reference, StatusUpdate
from app.store import CardRef, Store, StoreUnavailable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenCardsStored:
    """What the store holds for every open card, read at once: a bulk reconcile draws
    hundreds of cards, and one read each would be hundreds of queries."""

    last_actions: Mapping[str, LastAction]
    latest_updates: Mapping[str, StatusUpdate]
    digests: Mapping[CardRef, str]  # what each card message shows now


class IncidentCards:
    def __init__(
        self,
        slack: AsyncWebClient,
        store: Store,
        pagerduty: PagerDutyClient,
        recent: RecentActions,
        installation: InstallationLookup,
    ) -> None:
        self._slack = slack
        self._installation = installation
        self._store = store
        self._pagerduty = pagerduty
        self._recent = recent
        self.status_updates = StatusUpdates(store)
        # Drawing a card may use a policy or on-call list up to a minute old; actions read
        # their own fresh (`FreshPolicies`).
        self._policies = DrawingCache(pagerduty)

    def reading_with(self, pagerduty: PagerDutyClient) -> "IncidentCards":
        """The same cards, reading PagerDuty through another client (the background one)."""
        view = copy.copy(self)
        view._pagerduty = pagerduty
        view._policies = DrawingCache(pagerduty)
        return view

    @property
    def slack(self) -> AsyncWebClient:
        return self._slack

    async def card_for(
        self, incident: Incident, *, stored: OpenCardsStored | None = None
    ) -> dict[str, Any]:
        """The card of `incident` as PagerDuty answered, with what the store adds: its last
        action and latest status update (looked up in `stored` when given: every open
        card's, read at once for a bulk reconcile)."""
        if stored is None:
            last_action = await self._recent.last(incident.id)
            latest_update = await self.status_updates.latest(incident.id)
        else:
            last_action = stored.last_actions.get(incident.id)
            latest_update = stored.latest_updates.get(incident.id)
        where = (
            None if incident.status == "resolved" else await escalation_of(incident, self._policies)
        )
        return incident_card(
            incident,
            level=where.current if where else None,
            levels=where.levels if where else None,
            last_action=last_action,
            latest_update=latest_update,
        )

    async def stored_for_open_cards(self) -> OpenCardsStored:
        """What the store holds for every open card, in three queries."""
        return OpenCardsStored(
            last_actions=await self._recent.of_open_cards(),
            latest_updates=await self.status_updates.of_open_cards(),
            digests=await self._store.open_card_digests(),
        )

    # --- posting and redrawing ---------------------------------------------------------

    async def post(self, channel: str, incident_id: str, card: dict[str, Any]) -> CardRef:
        try:
            response = await self._slack.chat_postMessage(channel=channel, **card)
        except SLACK_FAILURES as error:
            raise SlackUnavailable(
                f"I could not post the card: {slack_error_reason(error)}."
            ) from None
        ref = CardRef(channel, str(response["ts"]))
        await self._store.replace_card(incident_id, ref)
        await self._store.set_card_digest(ref, card_digest(card))
        return ref

    async def show(self, incident: Incident, channel: str) -> list[str]:
        """Post the incident's card here, or refresh the one already here (and say so)."""
        card = await self.card_for(incident)
        existing = await self._store.find_card(incident.id, channel)
        if existing is None:
            await self.post(channel, incident.id, card)
            return []
        if problem := await self.update_quietly(existing, card):
            raise SlackUnavailable(f"I could not update the card: {problem}.")
        return ["That incident's card is already in this channel; I refreshed it."]

    async def refresh(
        self, outcome: Outcome, origin: CardRef | None = None, clicked: CardRef | None = None
    ) -> list[str]:
        """Redraw every card of the incident (and the `clicked` one, stored or not) from
        PagerDuty's answer, with a line in each card's thread except `origin`'s, where the
        reply already says it. A card Slack will not update must not hide that the change
        was made, so the problems are returned, not raised."""
        problems = []
        target = outcome.incident
        into = Reference(
            id=target.id,
            summary=f"#{target.incident_number} {target.title}",
            html_url=target.html_url,
        )
        for source in outcome.merged:
            merged = merged_card(source, into)
            for ref in await self._store.cards_for(source.id):
                problems.append(await self.update_quietly(ref, merged))
        refs = set(await self._store.cards_for(outcome.incident.id))
        if clicked is not None:
            refs.add(clicked)
        if not refs:
            return [problem for problem in problems if problem]
        card = await self.card_for(outcome.incident)
        for ref in refs:
            problems.append(await self.update_quietly(ref, card))
            if ref != origin:
                problems.append(await self.reply_quietly(ref, outcome.thread_line))
        return [problem for problem in problems if problem]

    async def redraw(self, ref: CardRef, incident: Incident | None, incident_id: str) -> str | None:
        """One card at PagerDuty's state (`None`: PagerDuty no longer has the incident);
        returns the problem, if any, as `update_quietly` does."""
        return await self.update_quietly(ref, await self.drawn(incident, incident_id))

    async def drawn(self, incident: Incident | None, incident_id: str) -> dict[str, Any]:
        """The card of `incident`, or of one PagerDuty no longer has (`None`)."""
        return await self.card_for(incident) if incident else gone_card(incident_id)

    async def update_quietly(self, ref: CardRef, card: dict[str, Any]) -> str | None:
        """Redraw a card after a change that already happened; returns the problem, if any,
        instead of raising, because the change must still be reported as done."""
        problem = await self._problem_of(
            "chat.update", self._slack.chat_update(channel=ref.channel, ts=ref.ts, **card)
        )
        if problem is None:
            try:
                await self._store.set_card_digest(ref, card_digest(card))
            except StoreUnavailable:  # the next reconcile redraws it once more: no harm
                logger.warning("card redrawn, but its digest not stored: store unavailable")
        return problem

    async def update_if_changed(self, ref: CardRef, card: dict[str, Any]) -> str | None:
        """`update_quietly`, skipped when the message already shows `card` (its stored
        digest says so): background redraws cost Slack calls only for real changes."""
        if await self._store.card_digest(ref) == card_digest(card):
            return None
        return await self.update_quietly(ref, card)

    async def reply_quietly(self, ref: CardRef, text: str) -> str | None:
        """One line in the card's thread ("Alice Adams acknowledged")."""
        return await self._problem_of(
            "thread reply",
            self._slack.chat_postMessage(channel=ref.channel, thread_ts=ref.ts, text=text),
        )

    @staticmethod
    async def _problem_of(what: str, call: Awaitable[Any]) -> str | None:
        try:
            await call
        except SLACK_FAILURES as error:
            logger.warning("%s failed", what, extra={"error": slack_error_reason(error)})
            return slack_error_reason(error)
        return None

    # --- threads -----------------------------------------------------------------------

    async def incident_in_thread(self, channel: str, thread_ts: str) -> str | None:
        """The incident whose card starts this thread, from our index or else the parent
        message's metadata; None when the parent is not a card: not posted by the bot
        (anyone can post a message with a card's metadata) or naming no incident id."""
        known = await self._store.incident_for_card(channel, thread_ts)
        if known is not None:
            return known
        try:
            replies = await self._slack.conversations_replies(
                channel=channel, ts=thread_ts, limit=1, include_all_metadata=True
            )
        except SLACK_FAILURES as error:
            raise SlackUnavailable(
                f"I couldn't read this thread ({slack_error_reason(error)}), so nothing was "
                "changed."
            ) from None
        messages = replies.get("messages") or []
        parent = messages[0] if messages else {}
        metadata = parent.get("metadata") or {}
        payload = metadata.get("event_payload") or {}
        incident_id = payload.get("incident_id")
        if (
            metadata.get("event_type") != CARD_METADATA_EVENT
            or not isinstance(incident_id, str)
            or not INCIDENT_ID.fullmatch(incident_id)
            or not (await self._installation.get()).posted(parent)
        ):
            return None
        await self._store.save_card(incident_id, CardRef(channel, thread_ts))
        return incident_id

    async def display_name(self, user_id: str) -> str:
        if not user_id:
            return "someone"
        try:
            user = (await self._slack.users_info(user=user_id)).get("user") or {}
        except SLACK_FAILURES:
            return user_id
        profile = user.get("profile") or {}
        return str(profile.get("real_name") or user.get("real_name") or user.get("name") or user_id)

    async def permalink(self, channel: str, ts: str) -> str:
        try:
            response = await self._slack.chat_getPermalink(channel=channel, message_ts=ts)
            return str(response["permalink"])
        except (*SLACK_FAILURES, KeyError):
            return ""


def card_digest(card: dict[str, Any]) -> str:
    """What a card message shows, in 64 hex digits: equal digests, nothing to redraw."""
    canonical = json.dumps(card, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
