"""State about cards that every replica must agree on, and that survives restarts (issue 15):
what each card message shows (a digest, to skip redraws), each incident's last action and
latest status update, the actions we just took (to recognise their webhooks as echoes), and
intents to post a card (so a crash between posting and recording never posts a second card).

`Store` inherits these; the plumbing they read and write through is `StorePlumbing`'s.
"""

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from app.store.group_commit import GroupCommit
from app.store.plumbing import StorePlumbing, utc_now
from app.store.records import CardRef, LastAction, PostDecision, PostTurn, PublishedUpdate
from app.store.schema import (
    card_digests,
    cards,
    last_actions,
    own_actions,
    post_intents,
    status_updates,
)


class SharedCardState(StorePlumbing):
    def __init__(self) -> None:
        super().__init__()
        self._noting = GroupCommit(self._note_own_actions)

    # -- digests: what a card message shows, to skip a redraw that would change nothing

    async def card_digest(self, card: CardRef) -> str | None:
        rows = await self._rows(
            sa.select(card_digests.c.digest).where(
                card_digests.c.channel == card.channel, card_digests.c.ts == card.ts
            )
        )
        return str(rows[0].digest) if rows else None

    async def open_card_digests(self) -> dict[CardRef, str]:
        """What every open card message shows, in one query: what a bulk reconcile compares
        each card with (instead of one read per card)."""
        rows = await self._rows(
            sa.select(card_digests.c.channel, card_digests.c.ts, card_digests.c.digest).join(
                cards,
                sa.and_(
                    cards.c.channel == card_digests.c.channel,
                    cards.c.ts == card_digests.c.ts,
                    cards.c.closed.is_(False),
                ),
            )
        )
        return {CardRef(str(row.channel), str(row.ts)): str(row.digest) for row in rows}

    async def set_card_digest(self, card: CardRef, digest: str) -> None:
        insert = self._insert(card_digests).values(channel=card.channel, ts=card.ts, digest=digest)
        await self._count(
            insert.on_conflict_do_update(
                index_elements=[card_digests.c.channel, card_digests.c.ts],
                set_={"digest": insert.excluded.digest},
            )
        )

    # -- the card's last action

    async def last_action(self, incident_id: str) -> LastAction | None:
        rows = await self._rows(
            sa.select(last_actions).where(last_actions.c.incident_id == incident_id)
        )
        if not rows:
            return None
        return _last_action(rows[0])

    async def last_actions_with_open_cards(self) -> dict[str, LastAction]:
        """Every incident with an open card's last action, in one query (bulk reconcile)."""
        rows = await self._rows(
            sa.select(last_actions).where(last_actions.c.incident_id.in_(_with_open_cards()))
        )
        return {str(row.incident_id): _last_action(row) for row in rows}

    async def record_own_action(self, incident_id: str, action: LastAction) -> None:
        """After our action, in one transaction: the incident's last action (kept unless a
        later one is stored already: webhooks arrive late) and, as `note_own_action`, that
        its webhook is our echo."""
        async with self._transaction() as conn:
            await conn.execute(self._last_action_upsert(incident_id, action))
            await conn.execute(self._own_action_upsert((incident_id, action.verb)))

    def _last_action_upsert(self, incident_id: str, action: LastAction) -> sa.Executable:
        if action.at.tzinfo is None:
            raise ValueError("LastAction.at must be an aware datetime")
        values = {
            "actor": action.actor,
            "verb": action.verb,
            "detail": action.detail,
            "at": action.at,
        }
        insert = self._insert(last_actions).values(incident_id=incident_id, **values)
        return insert.on_conflict_do_update(
            index_elements=[last_actions.c.incident_id],
            set_=values,
            where=last_actions.c.at <= action.at,
        )

    # -- the incident's latest status update

    async def latest_status_update(self, incident_id: str) -> PublishedUpdate | None:
        rows = await self._rows(
            sa.select(status_updates).where(status_updates.c.incident_id == incident_id)
        )
        return _published(rows[0]) if rows else None

    async def latest_status_updates_with_open_cards(self) -> dict[str, PublishedUpdate]:
        """Every incident with an open card's latest update, in one query: what a bulk
        reconcile draws with (instead of one read per card)."""
        rows = await self._rows(
            sa.select(status_updates).where(status_updates.c.incident_id.in_(_with_open_cards()))
        )
        return {str(row.incident_id): _published(row) for row in rows}

    async def record_status_update(self, incident_id: str, update: PublishedUpdate) -> bool:
        """Keep `update` if it is newer (by `created_at`) than the stored one; True if the
        stored update changed.

        The same update told twice (our post's answer and its webhook, in either order, or
        a redelivery) stays one entry, with its fullest message (a webhook may carry it
        trimmed) and earliest time (a webhook knows only when it occurred). It is the same
        if PagerDuty's ids match or, where one lacks an id, the messages do."""
        if update.created_at.tzinfo is None:
            raise ValueError("PublishedUpdate.created_at must be an aware datetime")
        now = utc_now()
        insert = self._insert(status_updates).values(
            incident_id=incident_id,
            update_id=update.update_id,
            message=update.message,
            created_at=update.created_at,
            recorded_at=now,
        )
        stored, told = status_updates.c, insert.excluded
        same = sa.or_(
            sa.and_(stored.update_id != "", stored.update_id == told.update_id),
            sa.and_(
                sa.or_(stored.update_id == "", told.update_id == ""),
                stored.message == told.message,
            ),
        )
        fuller = sa.func.length(told.message) > sa.func.length(stored.message)
        earlier = told.created_at < stored.created_at
        upsert = insert.on_conflict_do_update(
            index_elements=[stored.incident_id],
            set_={
                "update_id": sa.case(
                    (same & (stored.update_id != ""), stored.update_id), else_=told.update_id
                ),
                "message": sa.case((same & ~fuller, stored.message), else_=told.message),
                "created_at": sa.case((same & ~earlier, stored.created_at), else_=told.created_at),
                "recorded_at": now,
            },
            where=sa.or_(same & (fuller | earlier), ~same & (told.created_at > stored.created_at)),
        )
        return await self._count(upsert) == 1

    async def forget_status_updates(self, older_than: timedelta) -> int:
        """Drop updates recorded more than `older_than` ago of incidents with no open card
        (a card still open keeps its line however old); returns how many."""
        cutoff = utc_now() - older_than
        return await self._count(
            sa.delete(status_updates).where(
                status_updates.c.recorded_at < cutoff,
                status_updates.c.incident_id.not_in(_with_open_cards()),
            )
        )

    # -- echo suppression: "we just did <verb> to this incident"

    async def note_own_action(self, incident_id: str, verb: str) -> None:
        """Record, before writing to PagerDuty, that we are doing `verb` to the incident.
        Notes taken together (a storm of notes waking on one shared read) share one
        transaction, so a command's claim never queues behind dozens of them."""
        await self._noting((incident_id, verb))

    async def _note_own_actions(self, actions: list[tuple[str, str]]) -> list[None]:
        await self._count(self._own_action_upsert(*dict.fromkeys(actions)))
        return [None] * len(actions)

    def _own_action_upsert(self, *actions: tuple[str, str]) -> sa.Executable:
        """(incident id, verb) pairs, each at most once (one statement may not touch a row
        twice on PostgreSQL)."""
        now = utc_now()
        insert = self._insert(own_actions)
        return insert.values(
            [{"incident_id": incident_id, "verb": verb, "at": now} for incident_id, verb in actions]
        ).on_conflict_do_update(
            index_elements=[own_actions.c.incident_id, own_actions.c.verb],
            set_={"at": insert.excluded.at},
        )

    async def is_own_echo(self, incident_id: str, verb: str, window: timedelta) -> bool:
        """True if any replica noted `verb` on the incident within the last `window`."""
        since = utc_now() - window
        rows = await self._rows(
            sa.select(own_actions.c.at).where(
                own_actions.c.incident_id == incident_id,
                own_actions.c.verb == verb,
                own_actions.c.at >= since,
            )
        )
        return bool(rows)

    async def forget_own_actions(self, older_than: timedelta) -> int:
        """Drop notes older than `older_than`; returns how many."""
        cutoff = utc_now() - older_than
        return await self._count(sa.delete(own_actions).where(own_actions.c.at < cutoff))

    # -- intent to post: no second card after a crash between posting and recording

    async def begin_post(
        self, incident_id: str, channel: str, holder: str, lease: timedelta
    ) -> PostDecision:
        """Take the turn to post the incident's card in `channel`, for `lease`.

        POST: nobody tried before. RECOVER: an earlier try (ours or a crashed replica's)
        never completed; the card may be in the channel already, so look for it by its
        metadata and `complete_post` it if found. BUSY: another holder's try is live.
        POSTED: the card is recorded."""
        now = utc_now()
        where = (post_intents.c.incident_id == incident_id) & (post_intents.c.channel == channel)
        async with self._transaction() as conn:
            found = (
                await conn.execute(
                    sa.select(cards.c.ts).where(
                        cards.c.incident_id == incident_id, cards.c.channel == channel
                    )
                )
            ).all()
            if found:
                return PostDecision(PostTurn.POSTED, CardRef(channel, str(found[0].ts)))
            fresh = self._insert(post_intents).values(
                incident_id=incident_id,
                channel=channel,
                holder=holder,
                started_at=now,
                lease_until=now + lease,
            )
            if (await conn.execute(fresh.on_conflict_do_nothing())).rowcount == 1:
                return PostDecision(PostTurn.POST)
            retake = (
                sa.update(post_intents)
                .where(
                    where,
                    sa.or_(post_intents.c.holder == holder, post_intents.c.lease_until <= now),
                )
                .values(holder=holder, lease_until=now + lease)
            )
            if (await conn.execute(retake)).rowcount == 1:
                return PostDecision(PostTurn.RECOVER)
            return PostDecision(PostTurn.BUSY)

    async def complete_post(self, incident_id: str, card: CardRef) -> bool:
        """Record the posted card and close its intent, in one transaction. False (and the
        stored card kept) if the incident already had a card in that channel."""
        async with self._transaction() as conn:
            insert = self._insert(cards).values(
                incident_id=incident_id, channel=card.channel, ts=card.ts, closed=False
            )
            saved = (await conn.execute(insert.on_conflict_do_nothing())).rowcount == 1
            await conn.execute(
                sa.delete(post_intents).where(
                    post_intents.c.incident_id == incident_id,
                    post_intents.c.channel == card.channel,
                )
            )
            return saved

    async def abandon_post(self, incident_id: str, channel: str, holder: str) -> None:
        """Give the turn up when Slack surely posted nothing (it answered with an error)."""
        await self._count(
            sa.delete(post_intents).where(
                post_intents.c.incident_id == incident_id,
                post_intents.c.channel == channel,
                post_intents.c.holder == holder,
            )
        )

    async def unfinished_posts(self) -> list[tuple[str, str]]:
        """(incident, channel) of every intent not completed, for a sweep at start-up."""
        rows = await self._rows(
            sa.select(post_intents.c.incident_id, post_intents.c.channel).order_by(
                post_intents.c.started_at
            )
        )
        return [(str(row.incident_id), str(row.channel)) for row in rows]


def _with_open_cards() -> sa.Select[tuple[str]]:
    """The incidents that have a card still open."""
    return sa.select(cards.c.incident_id).where(cards.c.closed.is_(False))


def _last_action(row: sa.Row[Any]) -> LastAction:
    return LastAction(row.actor, row.verb, row.detail, row.at)


def _published(row: sa.Row[Any]) -> PublishedUpdate:
    return PublishedUpdate(str(row.message), row.created_at, str(row.update_id))
