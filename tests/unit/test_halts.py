"""Which halts stand: the halt hash as read, and the audit stream's replay after a failover
(`ordercancel/state/halts.py`)."""

import json

from ordercancel.scope import Scope
from ordercancel.state import halts

A = Scope(accounts=("a",)).key()
B = Scope(accounts=("a",), side="buy").key()


def kill(rid, key, ts):
    return {"event": "kill", "request_id": rid, "halt": key, "ts": str(ts)}


def resume(ts, pairs, every=False):
    return {"event": "resume", "ts": str(ts), "cleared": json.dumps(pairs),
            "all": "1" if every else ""}  # fmt: skip


def test_a_0_1_halt_reads_beside_the_new_ones():
    legacy = {"reason": "old", "since_ms": "1", "request_id": "k0", "accounts": '["a"]',
              "symbols": "[]"}  # fmt: skip
    parsed = halts.parse({**legacy, B: json.dumps({"request_id": "k1"})})
    assert parsed[A]["request_id"] == "k0" and parsed[B]["request_id"] == "k1"
    assert halts.legacy_fields({**legacy, B: "{}"}) == ["reason", "since_ms", "request_id",
                                                         "accounts", "symbols"]  # fmt: skip


def test_a_resume_clears_the_kill_it_saw_not_a_newer_one_of_the_same_scope():
    entries = [kill("k1", A, 1), kill("k2", A, 2), resume(3, [[A, "k1"]])]
    assert halts.replay(entries)[A]["request_id"] == "k2"
    assert halts.replay([kill("k1", A, 1), resume(2, [[A, "k1"]])]) == {}


def test_a_kill_whose_halt_went_up_after_a_resume_of_everything_read_the_halts_stands():
    # newest first, as the stream is read: the kill's entry came before the resume's, but its
    # halt was raised after the resume had read (and cleared) the others
    newest_first = [resume(1000, [[B, "k0"]], every=True), kill("k1", A, 990), kill("k0", B, 10)]
    standing = halts.replay(halts.history(newest_first))
    assert list(standing) == [A] and standing[A]["request_id"] == "k1"
    # long before the resume: not read back, and cleared by it
    old = [resume(100_000, [], every=True), kill("k1", A, 1)]
    assert halts.replay(halts.history(old)) == {}


def test_a_resume_from_before_0_2_clears_every_halt():
    newest_first = [kill("k2", B, 5), {"event": "resume", "ts": "4"}, kill("k1", A, 3)]
    assert list(halts.replay(halts.history(newest_first))) == [B]


def test_a_kill_a_resume_cleared_before_a_resume_of_everything_stays_cleared():
    newest_first = [resume(1000, [], every=True), resume(995, [[A, "k1"]]), kill("k1", A, 990)]
    assert halts.replay(halts.history(newest_first)) == {}
