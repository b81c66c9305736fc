"""The node's local lease (`lease.py`): venue calls wait while it has lapsed, and a request
begun under an identity another node took over is fenced for good."""

import threading
import time

import pytest

from ordercancel.errors import Fenced
from ordercancel.node.lease import Lease


def test_a_fresh_identity_is_renewed_not_fenced():
    lease = Lease("host:1:ab", 10)
    node = lease.node
    lease.renewed(node, time.monotonic(), intact=False)  # Redis did not know it yet
    assert lease.node == node and lease.hold(node, 0) > 9


def test_a_lapsed_lease_waits_for_the_next_renewal():
    lease = Lease("host:1:ab", 0.2)
    node = lease.node
    lease.renewed(node, time.monotonic(), intact=True)
    time.sleep(0.25)
    assert lease.hold(node, 0) == 0.0  # lapsed: no call now
    renewer = threading.Timer(0.1, lambda: lease.renewed(node, time.monotonic(), intact=True))
    renewer.start()
    assert lease.hold(node, 5.0) > 0.1  # the renewal came while it waited
    renewer.join()


def test_an_identity_taken_over_is_fenced_for_good():
    lease = Lease("host:1:ab", 10)
    old = lease.node
    lease.renewed(old, time.monotonic(), intact=True)
    lease.renewed(old, time.monotonic(), intact=False)  # removed: its requests were taken over
    assert lease.node != old
    with pytest.raises(Fenced):
        lease.hold(old, 0)
    lease.renewed(lease.node, time.monotonic(), intact=False)  # the new epoch's first renewal
    with pytest.raises(Fenced):  # a renewal of the new identity does not revive the old
        lease.hold(old, 1.0)
