"""The study store against SQLite and a real PostgreSQL server: migrations up and down, the schema
the code uses, participants' sessions, and the refusals that store nothing."""

import pytest
import sqlalchemy as sa

from web_client.study.definition import parse
from web_client.study.store import (MAX_EVENT_BYTES, Finished, Store, StoreError, TooLarge, UnknownParticipant,
                                    UnknownStudy, downgrade, engine_for, metadata, migrate)

STUDY = {"id": "does-painting-teach", "title": "What does the classifier look at?", "consent": "I agree.",
         "photos": ["coffee"], "steps": [{"kind": "before"}, {"kind": "explore"}, {"kind": "after"}]}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        engine = engine_for(f"sqlite:///{tmp_path / 'study.db'}")
    else:
        engine = engine_for(request.getfixturevalue("postgres").url)
    migrate(engine)
    yield engine
    downgrade(engine)
    engine.dispose()


@pytest.fixture
def store(engine):
    store = Store(engine)
    store.put_study(parse(STUDY))
    return store


def test_migrations_build_the_schema_the_code_uses_and_come_down_again(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    downgrade(engine)
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate(engine)
    assert {"studies", "participants", "events"} <= set(sa.inspect(engine).get_table_names())


def test_a_participant_goes_through_and_cannot_redo_it(store):
    p = store.new_participant("does-painting-teach")
    assert len(p.id) >= 20 and p.step == 0 and p.finished_at is None
    with pytest.raises(StoreError, match="consent comes first"):
        store.record(p.id, "does-painting-teach", "classify", 0, {"top": "espresso"})
    store.record(p.id, "does-painting-teach", "consent", 0, {})
    for step in range(3):
        store.record(p.id, "does-painting-teach", "step-start", step, {})
        store.record(p.id, "does-painting-teach", "classify", step, {"top": "espresso", "probability": 0.9})
        store.record(p.id, "does-painting-teach", "step-end", step, {})
        assert store.participant(p.id, "does-painting-teach").step == step + 1  # a reload resumes here
    store.record(p.id, "does-painting-teach", "finish", 3, {})
    assert store.participant(p.id, "does-painting-teach").finished_at is not None
    before = len(list(store.events("does-painting-teach")))
    with pytest.raises(Finished):
        store.record(p.id, "does-painting-teach", "classify", 2, {})
    assert len(list(store.events("does-painting-teach"))) == before == 11
    kinds = [e["kind"] for e in store.events("does-painting-teach", p.id)]
    assert kinds[0] == "consent" and kinds[-1] == "finish"


def test_finishing_early_is_refused(store):
    p = store.new_participant("does-painting-teach")
    store.record(p.id, "does-painting-teach", "consent", 0, {})
    with pytest.raises(StoreError, match="this participant is on step 0"):
        store.record(p.id, "does-painting-teach", "finish", 3, {})


def test_refusals_store_nothing(store):
    p = store.new_participant("does-painting-teach")
    store.record(p.id, "does-painting-teach", "consent", 0, {})
    count = len(list(store.events("does-painting-teach")))
    with pytest.raises(UnknownStudy):
        store.new_participant("nope")
    with pytest.raises(UnknownParticipant):
        store.record("someone-else", "does-painting-teach", "classify", 0, {})
    with pytest.raises(UnknownParticipant):  # a participant of one study is unknown to another
        store.put_study(parse({**STUDY, "id": "other"}))
        store.record(p.id, "other", "classify", 0, {})
    with pytest.raises(TooLarge):
        store.record(p.id, "does-painting-teach", "classify", 0, {"mask": "x" * MAX_EVENT_BYTES})
    with pytest.raises(StoreError, match="event kind"):
        store.record(p.id, "does-painting-teach", "hack", 0, {})
    with pytest.raises(StoreError, match="has steps 0 to 2"):
        store.record(p.id, "does-painting-teach", "classify", 7, {})
    store.record(p.id, "does-painting-teach", "step-start", 0, {})
    count += 1
    with pytest.raises(StoreError, match="step 0 does not show the model's map"):  # a before step
        store.record(p.id, "does-painting-teach", "map-view", 0, {"photo": 0})
    assert len(list(store.events("does-painting-teach"))) == count


def test_seeing_the_models_map_is_logged_where_the_step_shows_it(store):
    store.put_study(parse({**STUDY, "id": "with-map", "steps": [{"kind": "explore", "map": True}]}))
    p = store.new_participant("with-map")
    store.record(p.id, "with-map", "consent", 0, {})
    store.record(p.id, "with-map", "map-view", 0, {"photo": 0, "label": "espresso"})
    (viewed,) = [e for e in store.events("with-map") if e["kind"] == "map-view"]
    assert viewed["payload"] == {"photo": "coffee", "label": "espresso"}
    with pytest.raises(StoreError, match="names its photo by number"):
        store.record(p.id, "with-map", "map-view", 0, {"photo": 5})


def test_a_study_with_participants_keeps_its_steps_and_deleting_removes_everything(store):
    p = store.new_participant("does-painting-teach")
    store.record(p.id, "does-painting-teach", "consent", 0, {})
    with pytest.raises(StoreError, match="already has 1 participant"):
        store.put_study(parse({**STUDY, "steps": [{"kind": "explore"}]}))
    assert store.delete_study("does-painting-teach") == 1
    assert store.study_ids() == [] and list(store.events("does-painting-teach")) == []
    with pytest.raises(UnknownParticipant):
        store.participant(p.id, "does-painting-teach")
    with pytest.raises(UnknownStudy):
        store.delete_study("does-painting-teach")


def test_two_writes_of_one_participant_take_turns(store, monkeypatch):
    """The same step ended twice at once (a double tap, two tabs): one is stored, the other is
    refused as the store's rule says, never a database error or a second step-end."""
    import threading
    import time

    p = store.new_participant("does-painting-teach")
    store.record(p.id, "does-painting-teach", "consent", 0, {})
    store.record(p.id, "does-painting-teach", "step-start", 0, {})
    first_inside = threading.Event()
    checked = Store._within_quota

    def slow_first(self, *args):  # the first write pauses after its reads, in its transaction
        if not first_inside.is_set():
            first_inside.set()
            time.sleep(0.5)
        return checked(self, *args)

    monkeypatch.setattr(Store, "_within_quota", slow_first)
    outcomes = []

    def end_step():
        try:
            outcomes.append(store.record(p.id, "does-painting-teach", "step-end", 0, {}))
        except Exception as exc:  # noqa: BLE001: what kind of failure is the point
            outcomes.append(exc)

    first = threading.Thread(target=end_step)
    first.start()
    assert first_inside.wait(5)
    second = threading.Thread(target=end_step)
    second.start()
    first.join(10)
    second.join(10)
    stored = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(stored) == 1 and len(refused) == 1, outcomes
    assert type(refused[0]) is StoreError and "on step 1, not 0" in str(refused[0])
    assert [e["kind"] for e in store.events("does-painting-teach", p.id)].count("step-end") == 1


def test_each_photo_is_answered_once_a_step_and_a_reload_resumes_at_the_next(store):
    from web_client.study.store import AlreadyAnswered
    store.put_study(parse({**STUDY, "id": "two-photos", "photos": ["coffee", "chelsea"]}))
    p = store.new_participant("two-photos")
    store.record(p.id, "two-photos", "consent", 0, {})
    assert store.photos_answered(p.id, "two-photos", 0) == 0
    store.record(p.id, "two-photos", "map", 0, {"photo": 0, "mask": ""})
    assert store.photos_answered(p.id, "two-photos", 0) == 1
    with pytest.raises(AlreadyAnswered, match="map of photo 0 in step 0 is stored already"):
        store.record(p.id, "two-photos", "map", 0, {"photo": 0, "mask": ""})
    store.record(p.id, "two-photos", "map", 0, {"photo": 1, "mask": ""})
    assert store.photos_answered(p.id, "two-photos", 0) == 2
    assert [e["payload"]["photo"] for e in store.events("two-photos") if e["kind"] == "map"] == ["coffee", "chelsea"]


def test_a_long_read_does_not_hold_up_a_participants_write(store):
    """An export reading a big study while participants go on: neither waits for the other."""
    import threading
    p = store.new_participant("does-painting-teach")
    store.record(p.id, "does-painting-teach", "consent", 0, {})
    written = threading.Event()
    with store.engine.connect() as reader:
        reader.execute(sa.text("SELECT count(*) FROM events")).scalar()  # a read transaction, open
        writer = threading.Thread(target=lambda: (store.record(p.id, "does-painting-teach", "step-start", 0, {}),
                                                  written.set()))
        writer.start()
        assert written.wait(2), "the write waited for the read to end"
    writer.join(5)


def test_what_a_participant_and_a_study_store_is_counted_and_bounded(engine):
    from web_client.limits import Limits
    from web_client.study.store import TooMany
    store = Store(engine, Limits(study_participant_events=4, study_events=6, study_participant_mb=0.01))
    store.put_study(parse(STUDY))
    first, second = (store.new_participant("does-painting-teach") for _ in range(2))
    for _ in range(4):
        store.record(first.id, "does-painting-teach", "consent", 0, {})
    with pytest.raises(TooMany, match="stored 4 events, the most a participant may"):
        store.record(first.id, "does-painting-teach", "step-start", 0, {})
    store.record(second.id, "does-painting-teach", "consent", 0, {})
    with pytest.raises(TooLarge, match="may store at most 0.01 MB"):  # 10,485 bytes each
        store.record(second.id, "does-painting-teach", "stroke", 0, {"photo": 0, "note": "n" * 11_000})
    store.record(second.id, "does-painting-teach", "step-start", 0, {})
    with pytest.raises(TooMany, match="has stored 6 events, the most a study may"):
        store.record(second.id, "does-painting-teach", "step-end", 0, {})
    assert store.participant(second.id, "does-painting-teach").events == 2  # refusals count nothing
    store.delete_participant(first.id, "does-painting-teach")  # who withdraws gives the study room back
    store.record(second.id, "does-painting-teach", "step-end", 0, {})


def test_the_counts_migration_counts_what_was_stored_before_it(engine):
    store = Store(engine)
    store.put_study(parse(STUDY))
    p = store.new_participant("does-painting-teach")
    for kind in ("consent", "step-start"):
        store.record(p.id, "does-painting-teach", kind, 0, {"k": kind})
    downgrade(engine, "0001")  # the counts go; the events stay
    migrate(engine)
    counted = store.participant(p.id, "does-painting-teach")
    assert counted.events == 2 and counted.event_bytes == len('{"k":"consent"}') + len('{"k":"step-start"}')
    with engine.connect() as db:
        assert db.execute(sa.text("SELECT events FROM studies")).scalar() == 2


def test_events_are_read_a_batch_at_a_time_and_each_participants_together(store, monkeypatch):
    import web_client.study.store as module
    monkeypatch.setattr(module, "EVENTS_PER_READ", 3)
    people = [store.new_participant("does-painting-teach") for _ in range(2)]
    for _ in range(4):  # the two take turns
        for p in people:
            store.record(p.id, "does-painting-teach", "consent", 0, {})
    in_order = [e["participant_id"] for e in store.events("does-painting-teach")]
    assert in_order == [p.id for p in people] * 4
    together = [e["participant_id"] for e in store.events("does-painting-teach", by_participant=True)]
    assert together == [people[0].id] * 4 + [people[1].id] * 4
    ids = [e["id"] for e in store.events("does-painting-teach")]
    assert ids == sorted(ids) and len(set(ids)) == 8


FOUR = {**STUDY, "id": "four-conditions",
        "conditions": [{"name": "paint"}, {"name": "paint+map", "map": True},
                       {"name": "map", "paint": False, "map": True}, {"name": "none", "paint": False}],
        "steps": [{"kind": "before", "only": ["paint", "paint+map"]}, {"kind": "explore"}, {"kind": "after"}]}


def test_forty_joins_into_four_conditions_are_ten_each_by_the_recorded_seed(engine):
    from collections import Counter

    from web_client.study.assignment import condition_for
    store = Store(engine)
    store.put_study(parse(FOUR))  # no seed in the file: one is drawn and kept
    seed = store.seed("four-conditions")
    assert seed is not None
    store.put_study(parse({**FOUR, "title": "Reworded"}))  # replaced before anyone joined: the same seed
    assert store.seed("four-conditions") == seed
    joined = [store.new_participant("four-conditions") for _ in range(40)]
    assert [p.number for p in joined] == list(range(40))
    assert Counter(p.condition for p in joined) == {"paint": 10, "paint+map": 10, "map": 10, "none": 10}
    names = ["paint", "paint+map", "map", "none"]
    assert [p.condition for p in joined] == [condition_for(i, names, 4, seed) for i in range(40)]
    stored = {p.id: (p.condition, p.number, p.step) for p in store.participants("four-conditions")}
    # Stored as given; a condition that skips the first step starts on its next one.
    assert stored == {p.id: (p.condition, p.number, 0 if p.condition in ("paint", "paint+map") else 1)
                      for p in joined}
    store.delete_participant(joined[-1].id, "four-conditions")  # who withdraws does not give back a number
    assert store.new_participant("four-conditions").number == 40


def test_a_seed_in_the_file_is_the_seed_and_the_steps_a_condition_skips_are_skipped(engine):
    store = Store(engine)
    store.put_study(parse({**FOUR, "assignment": {"seed": 1234, "block": 8}}))
    assert store.seed("four-conditions") == 1234
    p = next(p for p in iter(lambda: store.new_participant("four-conditions"), None) if p.condition == "map")
    store.record(p.id, "four-conditions", "consent", 0, {})
    with pytest.raises(StoreError, match="on step 1, not 0"):
        store.record(p.id, "four-conditions", "map", 0, {"photo": 0, "mask": ""})
    from web_client.study.protocol import NotInCondition
    with pytest.raises(NotInCondition, match="condition 'map' does not paint"):
        store.record(p.id, "four-conditions", "stroke", 1, {"photo": 0})
    with pytest.raises(NotInCondition, match="does not paint"):
        store.record(p.id, "four-conditions", "classify", 1, {"mask": "iVBOR"})
    store.record(p.id, "four-conditions", "classify", 1, {"mask": ""})  # the photo itself
    store.record(p.id, "four-conditions", "map-view", 1, {"photo": 0, "label": "espresso"})
    store.record(p.id, "four-conditions", "step-end", 1, {})
    assert {e["condition"] for e in store.events("four-conditions", p.id)} == {"map"}
    assert [e["kind"] for e in store.events("four-conditions", p.id)] == ["consent", "classify", "map-view", "step-end"]


def test_joins_at_once_never_share_a_number(engine):
    """Eight threads joining together, several times each: every number once, and the conditions
    exactly as the assignment gives them (a lost update would repeat a number and skew the counts)."""
    import threading
    from collections import Counter
    store = Store(engine)
    store.put_study(parse(FOUR))
    joined, errors, start = [], [], threading.Barrier(8)

    def join():
        start.wait()
        for _ in range(5):
            try:
                joined.append(store.new_participant("four-conditions"))
            except Exception as exc:  # noqa: BLE001: a database error is the failure to see
                errors.append(exc)

    threads = [threading.Thread(target=join) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and sorted(p.number for p in joined) == list(range(40))
    assert Counter(p.condition for p in joined) == {"paint": 10, "paint+map": 10, "map": 10, "none": 10}


def test_the_conditions_migration_keeps_earlier_participants_in_all_and_counts_them(engine):
    store = Store(engine)
    store.put_study(parse(STUDY))
    old = [store.new_participant("does-painting-teach") for _ in range(3)]
    store.record(old[0].id, "does-painting-teach", "consent", 0, {})
    downgrade(engine, "0002")  # as a database from before conditions: no condition, no count
    assert "condition" not in {c["name"] for c in sa.inspect(engine).get_columns("participants")}
    migrate(engine)
    assert {p.condition for p in store.participants("does-painting-teach")} == {None}
    assert {e["condition"] for e in store.events("does-painting-teach")} == {"all"}
    assert store.seed("does-painting-teach") is None
    assert store.new_participant("does-painting-teach").number == 3  # the count goes on after them
