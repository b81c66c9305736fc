"""Backoff and the retry loop, as pure functions (no I/O: `op` and `sleep` are plain callables)."""

import time

import pytest

from ordercancel.engine.retry import (
    FINISH_S,
    Deadline,
    Tally,
    call_with_retry,
    compute_backoff,
    poll_delay,
)
from ordercancel.errors import AuthError, ClockSkew, RateLimited, VenueTimeout, VenueUnavailable


def test_backoff_is_capped_exponential_with_full_jitter():
    top = lambda: 0.999999  # noqa: E731
    assert compute_backoff(0, base=0.1, cap=5, rand=top) == pytest.approx(0.1, rel=1e-4)
    assert compute_backoff(3, base=0.1, cap=5, rand=top) == pytest.approx(0.8, rel=1e-4)
    assert compute_backoff(30, base=0.1, cap=5, rand=top) == pytest.approx(5, rel=1e-4)
    assert compute_backoff(4, rand=lambda: 0.0) == 0.0
    for attempt in range(20):
        assert 0 <= compute_backoff(attempt, base=0.05, cap=2.0) < 2.0


def run(errors, *, seconds=10.0, reserve=0.0):
    """Drive call_with_retry with a script of errors (None = success)."""
    script, sleeps, syncs, retries = list(errors), [], [], []
    tally = Tally()

    def op(timeout):
        assert timeout > 0
        tally.ops = getattr(tally, "ops", 0) + 1
        item = script.pop(0)
        if item is not None:
            raise item
        return "ok"

    result = call_with_retry(
        op,
        deadline=Deadline(int(time.time() * 1000 + seconds * 1000)),
        max_timeout=1.0,
        tally=tally,
        resync=syncs.append,
        on_retry=lambda e, w: retries.append((e, w)),
        reserve=reserve,
        sleep=sleeps.append,
    )
    return result, tally, sleeps, syncs, retries


def test_success_first_time():
    result, tally, sleeps, _, _ = run([None])
    assert (result, tally.ops, sleeps) == ("ok", 1, [])


def test_retry_after_is_waited_at_least():
    _, tally, sleeps, _, retries = run([RateLimited("429", retry_after=2.5), None])
    assert sleeps[0] >= 2.5
    assert tally.ops == 2
    assert isinstance(retries[0][0], RateLimited)


def test_5xx_and_timeouts_are_retried_with_backoff():
    _, tally, sleeps, _, _ = run([VenueUnavailable("503"), VenueTimeout("t"), None])
    assert tally.ops == 3 and len(sleeps) == 2


def test_permanent_errors_are_not_retried():
    with pytest.raises(AuthError):
        run([AuthError("401"), None])


def test_clock_skew_resyncs_then_retries_at_most_twice():
    _, tally, _, syncs, _ = run([ClockSkew("ts"), None])
    assert len(syncs) == 1 and tally.ops == 2  # cancel, (resync), cancel
    with pytest.raises(ClockSkew):
        run([ClockSkew("ts"), ClockSkew("ts"), ClockSkew("ts")])


def test_retry_after_longer_than_the_deadline_gives_up_at_once():
    with pytest.raises(RateLimited):
        run([RateLimited("429", retry_after=60), None], seconds=5)


def test_deadline_reserve_is_kept_for_read_back():
    with pytest.raises(RateLimited):
        run([RateLimited("429", retry_after=2), None], seconds=3, reserve=1.5)


def test_poll_delay_steps_up_every_four_reads_to_a_cap():
    mid = lambda: 0.5  # noqa: E731 - no jitter
    delays = [poll_delay(n, rand=mid) for n in range(20)]
    assert delays[:4] == [pytest.approx(0.025)] * 4
    assert delays[4:8] == [pytest.approx(0.05)] * 4
    assert max(delays) == pytest.approx(0.25) and delays == sorted(delays)
    assert 0.0225 <= poll_delay(0) <= 0.0275


def test_calls_end_before_the_deadline_with_time_left_to_publish_the_final():
    """A call near the deadline gets only the time left less FINISH_S: a lost answer times out
    before the deadline, not on it."""
    timeouts = []
    deadline = Deadline(int(time.time() * 1000) + 400)

    def op(timeout):
        timeouts.append(timeout)
        raise VenueTimeout("no answer")

    with pytest.raises(VenueTimeout):
        call_with_retry(
            op,
            deadline=deadline,
            max_timeout=1.0,
            tally=Tally(),
            resync=lambda t: None,
            on_retry=lambda e, w: None,
            sleep=lambda s: None,
        )
    assert FINISH_S > 0 and timeouts and max(timeouts) <= 0.4 - FINISH_S
