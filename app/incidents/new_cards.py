"""A new incident's card, posted once per channel and at Slack's pace.

Posts wait in the channel's lane of the posting queue; the incident is read and its card
drawn only when the channel's turn comes, so a storm in one channel neither delays another
channel's card nor reads PagerDuty faster than Slack takes the cards. Posting and recording
are two steps, so the intent is recorded first (`Store.begin_post`): a process that died
between them leaves an intent behind, and the next try looks for the card in the channel,
by its metadata, before posting again.
"""

from datetime import timedelta

from slack_sdk.errors import SlackApiError

from app.errors import SLACK_FAILURES, SlackUnavailable, slack_error_reason
from app.ids import CARD_METADATA_EVENT
from app.incidents.cards import IncidentCards, card_digest
from app.incidents.locks import IncidentLocks
from app.pagerduty.errors import IncidentNotFound
from app.posting_queue import ChannelPostingQueue, retry_after
from app.store import CardRef, PostTurn, Store

# How far back in a channel a card whose recording was interrupted is looked for.
HISTORY_PAGES = 5
HISTORY_PAGE_SIZE = 200


class NewCards:
    def __init__(
        self,
        *,
        cards: IncidentCards,
        locks: IncidentLocks,
        store: Store,
        posting: ChannelPostingQueue,
        holder: str,
        lease: timedelta,
    ) -> None:
        self._cards = cards
        self._locks = locks
        self._store = store
        self._posting = posting
        self._holder = holder
        self._lease = lease
        self._bot: tuple[str, str] | None = None  # (bot_id, user_id), from auth.test

    async def post(self, incident_id: str, channel: str) -> CardRef | None:
        """Post the incident's card in `channel` in the channel's turn; the card, or None
        when nothing new was posted (it was there already, or the incident is gone).
        Raises SlackUnavailable when it should be tried again later."""
        if await self._store.find_card(incident_id, channel) is not None:
            return None
        return await self._posting.post(channel, lambda: self._post_in_turn(incident_id, channel))

    async def _post_in_turn(self, incident_id: str, channel: str) -> CardRef | None:
        decision = await self._store.begin_post(incident_id, channel, self._holder, self._lease)
        if decision.turn is PostTurn.POSTED:
            return None
        if decision.turn is PostTurn.BUSY:
            raise SlackUnavailable("another replica is posting this card")
        if decision.turn is PostTurn.RECOVER:
            found = await self._find_posted(incident_id, channel)
            if found is not None:
                await self._store.complete_post(incident_id, found)
                return None  # the caller redraws it with the incident's other cards
        slack = self._cards.slack
        try:
            async with self._locks.fresh(incident_id) as incident:
                card = await self._cards.card_for(incident)
                response = await slack.chat_postMessage(channel=channel, **card)
        except IncidentNotFound:
            await self._store.abandon_post(incident_id, channel, self._holder)
            return None
        except SlackApiError as error:
            # Slack answered, so it posted nothing: the next try starts afresh.
            await self._store.abandon_post(incident_id, channel, self._holder)
            if retry_after(error) is not None:
                raise  # the posting queue waits for Slack and tries again
            raise SlackUnavailable(
                f"I could not post the card: {slack_error_reason(error)}."
            ) from None
        except SLACK_FAILURES as error:
            # No answer: it may have been posted. The intent stays, so the next try searches.
            raise SlackUnavailable(
                f"I could not post the card: {slack_error_reason(error)}."
            ) from None
        ref = CardRef(channel, str(response["ts"]))
        await self._store.complete_post(incident_id, ref)
        await self._store.set_card_digest(ref, card_digest(card))
        return ref

    async def _find_posted(self, incident_id: str, channel: str) -> CardRef | None:
        """The bot's own card for the incident in the channel's recent history, if any."""
        slack = self._cards.slack
        try:
            if self._bot is None:
                identity = await slack.auth_test()
                self._bot = (str(identity.get("bot_id") or ""), str(identity.get("user_id") or ""))
            bot_id, user_id = self._bot
            cursor = None
            for _ in range(HISTORY_PAGES):
                page = await slack.conversations_history(
                    channel=channel,
                    include_all_metadata=True,
                    limit=HISTORY_PAGE_SIZE,
                    cursor=cursor,
                )
                for message in page.get("messages") or []:
                    mine = (bot_id and message.get("bot_id") == bot_id) or (
                        user_id and message.get("user") == user_id
                    )
                    metadata = message.get("metadata") or {}
                    payload = metadata.get("event_payload") or {}
                    if (
                        mine
                        and metadata.get("event_type") == CARD_METADATA_EVENT
                        and payload.get("incident_id") == incident_id
                    ):
                        return CardRef(channel, str(message["ts"]))
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    return None
        except SLACK_FAILURES as error:
            raise SlackUnavailable(
                f"I could not look for an earlier card: {slack_error_reason(error)}."
            ) from None
        return None

    async def reply_in_turn(self, ref: CardRef, text: str) -> str | None:
        """A line in the card's thread, posted in the channel's turn (a thread reply counts
        against the channel's pace too); returns the problem, if any."""
        slack = self._cards.slack
        try:
            await self._posting.post(
                ref.channel,
                lambda: slack.chat_postMessage(channel=ref.channel, thread_ts=ref.ts, text=text),
            )
        except SLACK_FAILURES as error:
            return slack_error_reason(error)
        return None
