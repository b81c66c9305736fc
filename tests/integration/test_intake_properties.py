"""Property: whatever lands on the intake stream, every entry gets exactly one final, valid
requests are unaffected, the worker stays up, and nothing is left pending in the group."""

import json
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import order_status, seed, stream_end
from .test_intake import drained, final_of

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
# Requests shaped like the contract, with any value in any field. Accounts on the venue
# without a tight budget; no cancel_all / kill: a random one would flatten real test accounts.
requestish = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["cancel", "cancel_batch", "", "CANCEL", "teleport"]) | json_values,
        "account": st.sampled_from(["ajaib-main", "ajaib", "nope", ""]) | json_values,
        "order_id": st.from_regex(r"\A[0-9]{1,19}\Z") | json_values,
        "order_ids": st.lists(st.from_regex(r"\A[0-9]{1,6}\Z"), max_size=5) | json_values,
        "symbol": st.sampled_from(["BTC_USDT", "btc", "X" * 300]) | json_values,
        "idempotency_key": st.text(max_size=140) | json_values,
        "deadline_ms": st.integers(-5, 10**7) | json_values,
        "reason": st.text(max_size=300) | json_values,
        "extra": json_values,
    },
)
entries = st.one_of(
    requestish.map(json.dumps),
    st.text(max_size=200),  # broken JSON, NUL characters, anything
    st.binary(max_size=200),  # invalid UTF-8
    st.integers(1, 600).map(lambda n: "[" * n + "]" * n),  # deep nesting
    st.just(json.dumps({"kind": "cancel", "pad": "x" * 70_000})),  # too large
    json_values.map(json.dumps),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(entries, min_size=1, max_size=6))
def test_every_entry_gets_one_final_and_valid_requests_are_unaffected(client, admin, stack, batch):
    [oid] = seed(admin, "ajaib-main")
    start = stream_end(client)  # before anything is sent: every event of theirs comes after it
    valid = client.store.redis.xadd(
        client.keys.requests,
        {
            "request": json.dumps(
                {"kind": "cancel", "account": "ajaib-main", "order_id": oid, "symbol": "BTC_USDT"}
            )
        },
    )
    ids = [client.store.redis.xadd(client.keys.requests, {"request": value}) for value in batch]
    for entry in ids:
        final = final_of(client, entry)
        assert final["event"] == "final" and final["status"]
    assert final_of(client, valid)["status"] == "canceled"
    assert stack.worker.poll() is None  # the worker is alive
    assert drained(client)
    # exactly one final per entry over the whole stream since the start, counted once the
    # group has nothing pending
    finals = Counter(e["request_id"] for e in client.events(start=start) if e["event"] == "final")
    assert {entry: finals[entry] for entry in [valid, *ids]} == dict.fromkeys([valid, *ids], 1)
    assert order_status(admin, "ajaib-main", oid) == "CANCELLED"
