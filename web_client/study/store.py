"""Where studies live: SQLAlchemy Core over SQLite (a file, the default) or PostgreSQL (by URL).

The tables below are the schema as the code uses it; the migrations in migrations/versions are
how a database gets there (a test holds the two equal). Every write is bounded and belongs to one
participant; a finished participant's session takes no more writes; what a participant and a
study may store in all is a quota (web_client.limits), kept as counts beside them.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from typing import Callable, Iterator

import sqlalchemy as sa

from web_client.limits import MAX_EVENT_BYTES, MAX_SMALL_EVENT_BYTES, Limits
from web_client.study import protocol
from web_client.study.assignment import condition_for
from web_client.study.definition import IMPLICIT, MAX_SEED, Study, parse
from web_client.study.protocol import ANSWER_KINDS, AlreadyAnswered, Finished, StoreError  # noqa: F401 (the store's errors)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MASK_KINDS = ("map", "classify", "trial-start")  # trial-start: a counterfactual's hidden region  # may carry a mask: MAX_EVENT_BYTES; the rest MAX_SMALL_EVENT_BYTES
EVENT_KINDS = ("consent", "step-start", "step-end", "classify", "stroke", "prediction", "answer", "map", "map-view",
               "finish", "trial-start", "trial")

metadata = sa.MetaData()
studies = sa.Table(
    "studies", metadata,
    sa.Column("id", sa.String(63), primary_key=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("definition", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("events", sa.Integer, nullable=False, server_default="0"),
    sa.Column("event_bytes", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("seed", sa.BigInteger),  # the assignment's (the file's, or drawn when the study was added)
    sa.Column("joined", sa.Integer, nullable=False, server_default="0"),  # participants ever joined
)
participants = sa.Table(
    "participants", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("study_id", sa.String(63), sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("consented_at", sa.DateTime(timezone=True)),
    sa.Column("step", sa.Integer, nullable=False, server_default="0"),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("events", sa.Integer, nullable=False, server_default="0"),
    sa.Column("event_bytes", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("condition", sa.String(32)),  # None: joined before conditions, read as `all`
    sa.Column("number", sa.Integer),  # the order they joined in, from 0: what their condition was drawn by
)
events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("participant_id", sa.String(32), sa.ForeignKey("participants.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("study_id", sa.String(63), sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
)


PHOTO_KINDS = ("map", "map-view", "prediction", "stroke")


def checked_payload(study: Study, kind: str, payload: dict, photo_size: Callable[[str], tuple[int, int]] | None) -> dict:
    """An event's payload as stored: a photo named by its number in the study becomes its name,
    and a painted map's mask must be a PNG of the photo's size (`photo_size(name)`) that decodes
    whole: the summary reads every one."""
    if kind not in PHOTO_KINDS:
        return payload
    number = payload.get("photo")
    if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number < len(study.photos):
        raise StoreError(f"a {kind} event names its photo by number: 0 to {len(study.photos) - 1}")
    payload = {**payload, "photo": study.photos[number]}
    if kind == "map" and payload.get("mask"):
        expected = photo_size(payload["photo"]) if photo_size else None
        from web_client import cpu
        size = cpu.run(_decoded_size, payload["mask"], expected)
        if size is None:
            raise StoreError("a map's mask is a base64 PNG that decodes whole" + (
                f", the photo's size ({expected[0]}x{expected[1]})" if expected else ""))
        if expected and size != expected:
            raise StoreError(f"this map's mask is {size[0]}x{size[1]}; a map is the photo's size, "
                             f"{expected[0]}x{expected[1]}")
    return payload


def _decoded_size(mask_b64, expected: tuple[int, int] | None) -> tuple[int, int] | None:
    """The mask's size once all of it has decoded (None: it does not); one of another size than
    `expected` is not decoded at all."""
    import base64
    import io

    from PIL import Image

    from maskscope.limits import MAX_IMAGE_PIXELS
    if not isinstance(mask_b64, str):
        return None
    try:
        with Image.open(io.BytesIO(base64.b64decode(mask_b64, validate=True))) as image:
            if image.format != "PNG":
                return None
            if expected is not None and image.size != expected:
                return image.size  # refused for its size, never decoded
            if image.width * image.height > MAX_IMAGE_PIXELS:
                return None
            image.load()
            return image.size
    except Exception:  # noqa: BLE001: whatever PIL makes of a damaged file (OSError, SyntaxError...)
        return None


class UnknownStudy(StoreError):
    status = 404


class UnknownParticipant(StoreError):
    status = 404


class TooLarge(StoreError):
    status = 413


class TooMany(StoreError):
    status = 429


@dataclass(frozen=True)
class Participant:
    id: str
    study_id: str
    created_at: dt.datetime
    consented_at: dt.datetime | None
    step: int
    finished_at: dt.datetime | None
    events: int = 0       # what they have stored: counted against their quota
    event_bytes: int = 0
    condition: str | None = None  # None: joined before conditions existed (`all`)
    number: int | None = None     # the order they joined the study in, from 0


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


EVENTS_PER_READ = 64  # events of up to 256 KB (a map): a batch is at most 16 MB
WRITE = "maskscope_write"  # an execution option: this transaction writes (engine_for)


def engine_for(url: str) -> sa.Engine:
    """An engine for `url`; a SQLite file's folder is made, and its foreign keys enforced (SQLite's
    default is off).

    On SQLite a writing transaction (an engine with `WRITE` in its execution options: Store's
    writes) begins IMMEDIATE: it holds the database's write lock from its first read, as `SELECT
    ... FOR UPDATE` does a row on PostgreSQL (SQLite ignores that), so two writes of one
    participant take turns and the second sees the first (two deferred ones both read, then both
    wrote). Reads begin deferred, and the file is in WAL mode, so that reads (an export of a big
    study) and a write do not wait on each other. pysqlite's own transaction handling is turned
    off for this, as SQLAlchemy's documentation shows.
    """
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":
        @sa.event.listens_for(engine, "connect")
        def _connect(connection, _record):
            connection.isolation_level = None
            connection.execute("PRAGMA foreign_keys = ON")
            connection.execute("PRAGMA journal_mode = WAL")

        @sa.event.listens_for(engine, "begin")
        def _begin(connection):
            connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get(WRITE) else "BEGIN")
    return engine


def _alembic(connection):
    from alembic.config import Config
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


MIGRATION_LOCK = 0x6D61736B  # "mask": PostgreSQL's advisory lock key while a process migrates


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Brings the database's schema up to `revision`; web pods starting together on PostgreSQL
    take turns (the second finds it done)."""
    from alembic import command
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        command.upgrade(_alembic(connection), revision)


def downgrade(engine: sa.Engine, revision: str = "base") -> None:
    """Takes the schema down to `revision` ("base": no tables left)."""
    from alembic import command
    with engine.begin() as connection:
        command.downgrade(_alembic(connection), revision)


class Store:
    """`limits`: the quotas of what a participant and a study may store; `photo_size(name)`: a
    study photo's width and height, which its maps must have (None: not checked)."""

    def __init__(self, engine: sa.Engine, limits: Limits = Limits(),
                 photo_size: Callable[[str], tuple[int, int]] | None = None):
        self.engine = engine
        self.limits = limits
        self.photo_size = photo_size
        self._writer = engine.execution_options(**{WRITE: True})  # the same pool; writes begin IMMEDIATE

    # ---- studies (the researcher's side) ----

    def put_study(self, study: Study) -> None:
        """Adds a study, or replaces its definition while nobody has taken part (a study that has
        participants keeps the steps they saw: give a changed study a new id)."""
        with self._writer.begin() as db:
            # Locked, so that no participant joins between the count below and the update.
            exists = db.execute(sa.select(studies.c.id, studies.c.seed).where(studies.c.id == study.id)
                                .with_for_update()).first()
            # The file's seed, else the one drawn before, else a new one: kept, so the assignment
            # can be recomputed from summary.json.
            seed = study.seed if study.seed is not None else (
                exists.seed if exists is not None and exists.seed is not None else secrets.randbelow(MAX_SEED + 1))
            if exists is None:
                db.execute(studies.insert().values(id=study.id, title=study.title, definition=study.to_json(),
                                                   created_at=now(), seed=seed))
                return
            taken = db.execute(sa.select(sa.func.count()).select_from(participants)
                               .where(participants.c.study_id == study.id)).scalar()
            if taken:
                raise StoreError(f"study {study.id!r} already has {taken} participant(s): its steps cannot change "
                                 "under them; give the new version a new id")
            db.execute(studies.update().where(studies.c.id == study.id)
                       .values(title=study.title, definition=study.to_json(), seed=seed))

    def study(self, study_id: str) -> Study:
        with self.engine.connect() as db:
            row = db.execute(sa.select(studies.c.definition).where(studies.c.id == study_id)).first()
        if row is None:
            raise UnknownStudy(f"no study {study_id!r}")
        return parse(json.loads(row.definition))

    def seed(self, study_id: str) -> int | None:
        """The study's assignment seed (None: a study stored before conditions that has none yet)."""
        with self.engine.connect() as db:
            row = db.execute(sa.select(studies.c.seed).where(studies.c.id == study_id)).first()
        if row is None:
            raise UnknownStudy(f"no study {study_id!r}")
        return row.seed

    def study_ids(self) -> list[str]:
        with self.engine.connect() as db:
            return [r.id for r in db.execute(sa.select(studies.c.id).order_by(studies.c.id))]

    def delete_study(self, study_id: str) -> int:
        """Removes a study with its participants and events; returns how many events went."""
        with self._writer.begin() as db:
            count = db.execute(sa.select(sa.func.count()).select_from(events)
                               .where(events.c.study_id == study_id)).scalar()
            db.execute(events.delete().where(events.c.study_id == study_id))
            db.execute(participants.delete().where(participants.c.study_id == study_id))
            if db.execute(studies.delete().where(studies.c.id == study_id)).rowcount == 0:
                raise UnknownStudy(f"no study {study_id!r}")
        return count

    def delete_participant(self, participant_id: str, study_id: str) -> int:
        """Removes one participant (who withdraws) with their events; returns how many events went."""
        with self._writer.begin() as db:
            count = db.execute(sa.select(sa.func.count()).select_from(events)
                               .where(events.c.participant_id == participant_id, events.c.study_id == study_id)).scalar()
            db.execute(events.delete().where(events.c.participant_id == participant_id, events.c.study_id == study_id))
            gone = db.execute(participants.delete().where(participants.c.id == participant_id,
                                                          participants.c.study_id == study_id)
                              .returning(participants.c.events, participants.c.event_bytes)).first()
            if gone is None:
                raise UnknownParticipant(f"no participant {participant_id!r} in study {study_id!r}")
            db.execute(studies.update().where(studies.c.id == study_id).values(
                events=studies.c.events - gone.events, event_bytes=studies.c.event_bytes - gone.event_bytes))
        return count

    # ---- participants ----

    def new_participant(self, study_id: str) -> Participant:
        """A participant, in the condition their join's number gives (assignment.py): the number is
        taken by incrementing the study's count of joins in the insert's transaction, which holds
        the study's row (PostgreSQL's row lock; SQLite's write lock, BEGIN IMMEDIATE) until it
        commits, so two joins never share a number, and a put_study of this study waits and then
        counts the join."""
        with self._writer.begin() as db:
            row = db.execute(studies.update().where(studies.c.id == study_id).values(joined=studies.c.joined + 1)
                             .returning(studies.c.joined, studies.c.seed, studies.c.definition)).first()
            if row is None:
                raise UnknownStudy(f"no study {study_id!r}")
            study = parse(json.loads(row.definition))
            number = row.joined - 1
            names = [c.name for c in study.conditions_or_all]
            # A study stored before conditions has no seed; it has one condition, so any seed gives it.
            condition = condition_for(number, names, study.block_size, row.seed or 0)
            step = protocol.next_step(study, study.condition(condition), -1)
            participant = Participant(secrets.token_urlsafe(16), study_id, now(), None, step, None,
                                      condition=condition, number=number)
            db.execute(participants.insert().values(id=participant.id, study_id=study_id,
                                                    created_at=participant.created_at, step=step,
                                                    condition=condition, number=number))
        return participant

    def participant(self, participant_id: str, study_id: str) -> Participant:
        """A participant of `study_id` (another study's participant is unknown here)."""
        with self.engine.connect() as db:
            row = db.execute(sa.select(participants).where(participants.c.id == participant_id,
                                                           participants.c.study_id == study_id)).first()
        if row is None:
            raise UnknownParticipant(f"no participant {participant_id!r} in study {study_id!r}")
        return Participant(**row._mapping)

    def record(self, participant_id: str, study_id: str, kind: str, step: int, payload: dict) -> int:
        """Stores one event of a participant who has not finished; returns its id. Consent, a
        step's end and finishing move the participant on (a reload resumes there)."""
        if kind not in EVENT_KINDS:
            raise StoreError(f"event kind {kind!r}; use one of {', '.join(EVENT_KINDS)}")
        text = json.dumps(payload, separators=(",", ":"))
        largest = MAX_EVENT_BYTES if kind in MASK_KINDS else MAX_SMALL_EVENT_BYTES
        if len(text) > largest:
            raise TooLarge(f"the event is {len(text):,} bytes; a {kind} event is at most {largest:,}")
        study = self.study(study_id)
        protocol.check_step(study, kind, step)  # before anything is read or decoded for it
        self.participant(participant_id, study_id)  # a cheap read first: no one's map is decoded for nothing
        payload = checked_payload(study, kind, payload, self.photo_size)  # decoded outside the transaction
        text = json.dumps(payload, separators=(",", ":"))
        with self._writer.begin() as db:
            row = db.execute(sa.select(participants).where(participants.c.id == participant_id,
                                                           participants.c.study_id == study_id)
                             .with_for_update()).first()
            if row is None:
                raise UnknownParticipant(f"no participant {participant_id!r} in study {study_id!r}")
            answered = self._answered(db, participant_id, step, kind) if kind in ANSWER_KINDS else set()
            at = now()
            changes = protocol.changes(row, study, kind, step, at, payload.get("photo"), answered,
                                       masked=kind == "classify" and bool(payload.get("mask")))
            self._within_quota(db, row, study_id, len(text))
            counted = {"events": participants.c.events + 1, "event_bytes": participants.c.event_bytes + len(text)}
            db.execute(participants.update().where(participants.c.id == participant_id).values(**changes, **counted))
            db.execute(studies.update().where(studies.c.id == study_id).values(
                events=studies.c.events + 1, event_bytes=studies.c.event_bytes + len(text)))
            result = db.execute(events.insert().values(participant_id=participant_id, study_id=study_id, step=step,
                                                       kind=kind, at=at, payload=text))
            return result.inserted_primary_key[0]

    def _within_quota(self, db, participant, study_id: str, size: int) -> None:
        """Refuses an event that would take the participant or the study past its quota (the
        study's row is locked until the transaction ends, so its counts add up)."""
        limits, mb = self.limits, 1 << 20
        if participant.events + 1 > limits.study_participant_events:
            raise TooMany(f"this participant has stored {participant.events:,} events, the most a participant may")
        if participant.event_bytes + size > limits.study_participant_mb * mb:
            raise TooLarge(f"this participant has stored {participant.event_bytes / mb:.1f} MB; a participant may "
                           f"store at most {limits.study_participant_mb:g} MB")
        study = db.execute(sa.select(studies.c.events, studies.c.event_bytes).where(studies.c.id == study_id)
                           .with_for_update()).one()
        if study.events + 1 > limits.study_events:
            raise TooMany(f"study {study_id!r} has stored {study.events:,} events, the most a study may")
        if study.event_bytes + size > limits.study_mb * mb:
            raise TooLarge(f"study {study_id!r} has stored {study.event_bytes / mb:.1f} MB; a study may store at "
                           f"most {limits.study_mb:g} MB")

    @staticmethod
    def _answered(db, participant_id: str, step: int, kind: str) -> set[str]:
        rows = db.execute(sa.select(events.c.payload).where(events.c.participant_id == participant_id,
                                                            events.c.step == step, events.c.kind == kind))
        return {json.loads(r.payload).get("photo") for r in rows}

    def trial_start(self, participant_id: str, study_id: str, step: int, photo: str) -> dict | None:
        """The first `trial-start` event of this participant's trial of `photo` in `step` (its `at`
        is when the trial was first shown; its payload what the model said), or None."""
        with self.engine.connect() as db:
            rows = db.execute(sa.select(events).where(events.c.participant_id == participant_id,
                                                      events.c.study_id == study_id, events.c.step == step,
                                                      events.c.kind == "trial-start").order_by(events.c.id))
            for row in rows:
                payload = json.loads(row.payload)
                if payload.get("photo") == photo:
                    return {**row._mapping, "payload": payload}
        return None

    def photos_answered(self, participant_id: str, study_id: str, step: int) -> int:
        """How many of the study's photos this participant has answered in `step` (a map or a
        prediction each; the page answers them in order, so a reload resumes at this number, and
        at the step's end when it is all of them)."""
        with self.engine.connect() as db:
            return max(len(self._answered(db, participant_id, step, kind)) for kind in ANSWER_KINDS)

    def events(self, study_id: str, participant_id: str | None = None, *, by_participant: bool = False
               ) -> Iterator[dict]:
        """A study's events in the order they happened (one participant's, if given), read from the
        database EVENTS_PER_READ at a time as they are wanted, each read on a connection of its
        own: an export or a summary of a study of any size holds one batch, and a slow download
        holds no connection. `by_participant`: each participant's together, in the order they joined.
        Each carries its participant's `condition` (`all` for one who joined before conditions)."""
        if by_participant and not participant_id:
            for participant in self.participants(study_id):
                yield from self.events(study_id, participant.id)
            return
        condition = sa.func.coalesce(participants.c.condition, IMPLICIT).label("condition")
        query = (sa.select(events, condition).join(participants, participants.c.id == events.c.participant_id)
                 .where(events.c.study_id == study_id))
        if participant_id:
            query = query.where(events.c.participant_id == participant_id)
        after = 0
        while True:
            with self.engine.connect() as db:
                rows = db.execute(query.where(events.c.id > after).order_by(events.c.id).limit(EVENTS_PER_READ)).all()
            for row in rows:
                yield {**row._mapping, "payload": json.loads(row.payload)}
            if len(rows) < EVENTS_PER_READ:
                return
            after = rows[-1].id

    def participants(self, study_id: str) -> list[Participant]:
        with self.engine.connect() as db:
            rows = db.execute(sa.select(participants).where(participants.c.study_id == study_id)
                              .order_by(participants.c.created_at, participants.c.number))
            return [Participant(**row._mapping) for row in rows]
