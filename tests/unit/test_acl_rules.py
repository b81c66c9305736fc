"""The ACL lines `ordercancel acl` prints (state/acl.py): pure functions; what they let each
role do is tested on a real Redis 7 in tests/integration/test_acl.py."""

import hashlib

import pytest

from ordercancel.state.acl import ROLES, pattern, rules, setuser


def test_a_prefix_is_a_literal_in_the_patterns():
    assert pattern("desk[1]*?\\") == "desk\\[1\\]\\*\\?\\\\"
    assert "~desk\\*:*" in rules("worker", "desk*")


def test_the_password_is_printed_as_its_sha256_only():
    line = setuser("producer", "risk", "oc", "s3cret")
    assert "s3cret" not in line
    assert f"#{hashlib.sha256(b's3cret').hexdigest()}" in line.split()
    assert line.startswith("ACL SETUSER risk reset on #")
    assert "resetpass" in setuser("producer", "risk", "oc", None).split()  # cannot log in


def test_a_producer_writes_the_intake_stream_and_nothing_else():
    line = " ".join(rules("producer", "oc"))
    assert "(~oc:requests ~oc:deadman:beats +xadd)" in line
    writes = {"+del", "+hdel", "+hset", "+lpush", "+rpush", "+set", "+xtrim", "+@all", "+@write",
              "+eval", "+evalsha", "+xreadgroup", "+xack"}  # fmt: skip
    assert not writes & set(line.replace("(", " ").replace(")", " ").split())
    assert "~oc:*" not in line.split() and "%R~oc:*" not in line.split()


def test_an_operator_may_clear_the_halt_and_disarm_and_a_worker_has_its_prefix():
    assert "(~oc:halt ~oc:deadman ~oc:deadman:beats +del)" in " ".join(rules("operator", "oc"))
    worker = rules("worker", "oc", db=3)
    assert worker[:3] == ["~oc:*", "&oc:*", "&oc:celery:/3.celery.pidbox"]
    assert "+flushall" not in worker and "+@all" not in worker


@pytest.mark.parametrize("bad", [("admin", "u"), ("producer", ""), ("producer", "two words")])
def test_an_unknown_role_or_a_bad_user_name_is_refused(bad):
    role, user = bad
    with pytest.raises(ValueError):
        setuser(role, user, "oc", None)
    assert set(ROLES) == {"producer", "operator", "worker"}
