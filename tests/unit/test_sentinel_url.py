"""`redis+sentinel://` URLs (state/sentinel.py): parsing, kombu's broker form, masking, and
config errors; following a real failover is tests/integration/test_sentinel.py."""

import pytest

from ordercancel.config import Settings, safe_url
from ordercancel.errors import ConfigError
from ordercancel.state import sentinel

URL = "redis+sentinel://app:p%40ss@s1:26379,s2,[::1]:26380/oc-main/2?sentinel_password=sp&ssl=true"


def test_hosts_master_database_and_both_credentials():
    t = sentinel.parse(URL)
    assert t.hosts == [("s1", 26379), ("s2", 26379), ("::1", 26380)]
    assert (t.master, t.db, t.username, t.password) == ("oc-main", 2, "app", "p@ss")
    assert t.sentinel_password == "sp"
    assert t.ssl == {"ssl": True, "ssl_cert_reqs": "required"}  # verified unless said otherwise


def test_kombu_gets_one_url_per_sentinel_and_the_master_name():
    broker, options = sentinel.broker_params(URL)
    assert broker.split(";") == [
        "sentinel://app:p%40ss@s1:26379/2?ssl_cert_reqs=required",
        "sentinel://app:p%40ss@s2:26379/2?ssl_cert_reqs=required",
        "sentinel://app:p%40ss@[::1]:26380/2?ssl_cert_reqs=required",
    ]
    assert options["master_name"] == "oc-main"
    assert options["sentinel_kwargs"]["password"] == "sp"


def test_passwords_are_masked_and_listed_as_secrets():
    assert "p%40ss" not in safe_url(URL) and "sentinel_password=****" in safe_url(URL)
    settings = Settings.from_mapping({"redis": {"url": URL}}, None, env={})
    assert {"p%40ss", "p@ss", "sp"} <= set(settings.secret_values())
    assert settings.wait_replicas == 1  # a replica acknowledges what must not be lost


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("redis+sentinel://s1/", "/MASTER"),
        ("redis+sentinel://s1:x/m", "port"),
        ("redis+sentinel://s1/m/zero", "database"),
        ("redis+sentinel://s1/m?sentinel_pasword=x", "unknown option"),
    ],
)
def test_a_bad_url_is_a_config_error_naming_redis_url(url, why):
    with pytest.raises(ConfigError, match=why) as info:
        Settings.from_mapping({"redis": {"url": url}}, None, env={})
    assert "redis.url" in str(info.value)
