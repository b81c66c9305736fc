"""Configuration: secrets from env:/file:/literal, errors that name account and field, masking."""

import pytest

from ordercancel.config import RateLimit, Secret
from ordercancel.errors import ConfigError
from ordercancel.settings import settings_from

SECRET_VALUE = "sup3r-s3cret-value"


def load(accounts=None, env=None, **sections):
    return settings_from({**sections, "accounts": accounts or {}}, env=env or {})


def zebpay(**fields):
    return {
        "venue": "zebpay",
        "base_url": "https://futuresbe.zebpay.com",
        "api_key": "k",
        "api_secret": "s",
        **fields,
    }


def test_secret_sources(tmp_path):
    path = tmp_path / "secret"
    path.write_text(SECRET_VALUE + "\n")
    path.chmod(0o600)
    s = load({"a": zebpay(api_key="env:ZK", api_secret=f"file:{path}")}, env={"ZK": "key-from-env"})
    opts = s.accounts["a"].options
    assert opts.api_key.reveal() == "key-from-env"
    assert opts.api_secret.reveal() == SECRET_VALUE
    assert SECRET_VALUE not in repr(opts) and SECRET_VALUE not in str(opts.api_secret)
    assert SECRET_VALUE not in str(s.accounts["a"].masked())


def test_secret_cannot_be_pickled():
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(Secret(SECRET_VALUE))


@pytest.mark.parametrize(
    ("account", "env", "field", "words"),
    [
        (zebpay(api_secret="env:MISSING"), {}, "api_secret", "MISSING is not set"),
        (zebpay(api_secret="file:/nonexistent/x"), {}, "api_secret", "cannot read file"),
        (zebpay(venue="binance"), {}, "venue", "unknown venue"),
        (zebpay(base_url="ftp://x"), {}, "base_url", "http"),
        ({"venue": "zebpay", "base_url": "https://x"}, {}, "api_key", "required"),
        (zebpay(jwt="t"), {}, "jwt", "not both"),
        (zebpay(rate_limit="fast"), {}, "rate_limit", "180/60s"),
        (zebpay(timeout_s=0), {}, "timeout_s", "seconds"),
        (zebpay(api_secert="x"), {}, "api_secert", "unknown field"),
    ],
)
def test_errors_name_account_and_field(account, env, field, words):
    with pytest.raises(ConfigError) as info:
        load({"zebpay-main": account}, env=env)
    assert info.value.account == "zebpay-main"
    assert info.value.field == field
    assert f"accounts.zebpay-main.{field}" in str(info.value)
    assert words in str(info.value)


def test_secret_values_never_appear_in_errors():
    with pytest.raises(ConfigError) as info:
        load({"a": zebpay(api_key=SECRET_VALUE, venue="nope")})
    assert SECRET_VALUE not in str(info.value)


def test_env_overrides_and_redis_url_checks():
    s = load(
        env={"ORDERCANCEL_REDIS_URL": "rediss://:pw@host:6380/2", "ORDERCANCEL_PREFIX": "p1"},
        redis={"url": "redis://ignored"},
    )
    assert s.redis_url == "rediss://:pw@host:6380/2" and s.prefix == "p1"
    assert load(redis={"url": "unix:///tmp/r.sock"}).redis_url == "unix:///tmp/r.sock"
    for bad in ("http://x", "redis://", "unix://"):
        with pytest.raises(ConfigError, match=r"redis\.url"):
            load(redis={"url": bad})


def test_defaults_and_venue_published_rate_limit():
    s = load({"z": zebpay()})
    assert s.redis_url is None and s.prefix == "ordercancel"
    assert s.accounts["z"].rate_limit == RateLimit(180, 60.0)
    assert s.idempotency_retention_s == 24 * 3600 and s.default_deadline_ms == 30_000


def test_account_lookup_by_venue_name_when_unique():
    s = load({"z1": zebpay()})
    assert s.account("zebpay").name == "z1"
    assert load({"z1": zebpay(), "z2": zebpay()}).account("zebpay") is None


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_secret_file_others_may_read_is_refused_naming_account_field_and_mode(tmp_path, mode):
    path = tmp_path / "secret"
    path.write_text(SECRET_VALUE)
    path.chmod(mode)
    with pytest.raises(ConfigError) as info:
        load({"a": zebpay(api_secret=f"file:{path}")})
    assert info.value.account == "a" and info.value.field == "api_secret"
    assert f"mode {mode:04o}" in str(info.value) and "chmod 600" in str(info.value)
    assert SECRET_VALUE not in str(info.value)
    # unless the account says it is meant to be shared
    shared = load({"a": zebpay(api_secret=f"file:{path}", allow_shared_key_file=True)})
    assert shared.accounts["a"].options.api_secret.reveal() == SECRET_VALUE


def test_a_secret_file_only_its_owner_reads_is_taken(tmp_path):
    path = tmp_path / "secret"
    path.write_text(SECRET_VALUE)
    for mode in (0o600, 0o400):
        path.chmod(mode)
        assert load({"a": zebpay(api_secret=f"file:{path}")}).accounts["a"].options.api_secret


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://127.0.0.1:8089", True),
        ("http://127.0.0.2:8089", True),
        ("http://localhost:8089", True),
        ("http://[::1]:8089", True),
        ("https://futuresbe.zebpay.com", True),
        ("http://futuresbe.zebpay.com", False),
        ("http://sim:8089", False),
    ],
)
def test_http_to_another_machine_needs_allow_http(url, ok):
    if ok:
        assert load({"a": zebpay(base_url=url)}).accounts["a"].base_url == url
        return
    with pytest.raises(ConfigError) as info:
        load({"a": zebpay(base_url=url)})
    assert info.value.field == "base_url" and "allow_http" in str(info.value)
    assert load({"a": zebpay(base_url=url, allow_http=True)}).accounts["a"].base_url == url


def test_literal_secrets_are_warned_about_and_sourced_ones_are_not(tmp_path):
    settings = load({"lit": zebpay(), "env": zebpay(api_key="env:K", api_secret="env:S")},
                    env={"K": "k", "S": "s"})  # fmt: skip
    assert settings.warnings() == [
        f"accounts.lit.{key} is written in the config file: prefer env:NAME or file:/path"
        for key in ("api_key", "api_secret")
    ]


def test_the_redis_password_comes_from_env_or_file_and_is_never_printed(tmp_path):
    s = load(redis={"url": "redis://redis:6379/0", "password": "env:RP"}, env={"RP": "p@ss/w"})
    assert s.redis_url == "redis://:p%40ss%2Fw@redis:6379/0"
    assert "p@ss/w" in s.secret_values() and s.warnings() == []
    inline = load(redis={"url": "redis://:inline@redis:6379/0"})
    assert inline.warnings() == [
        'redis.url carries its password in the config file: prefer [redis] password = "env:NAME"'
        " (or ORDERCANCEL_REDIS_URL)"
    ]
    with pytest.raises(ConfigError, match=r"redis\.password: environment variable RP is not set"):
        load(redis={"url": "redis://redis:6379/0", "password": "env:RP"})


def test_a_rediss_url_that_turns_verification_off_is_warned_about():
    def warnings(query):
        return load(redis={"url": f"rediss://redis:6380/0?{query}"}).warnings()

    assert warnings("ssl_cert_reqs=required&ssl_ca_certs=/etc/oc/ca.pem") == []
    assert warnings("ssl_ca_certs=/etc/oc/ca.pem") == []  # verified: the default
    assert warnings("ssl_cert_reqs=none") == [
        "redis.url turns TLS certificate verification off (ssl_cert_reqs=none): any server "
        "can pose as Redis; name its CA instead (ssl_ca_certs=/path/to/ca.pem)"
    ]
    [hostname] = warnings("ssl_ca_certs=/etc/oc/ca.pem&ssl_check_hostname=false")
    assert "ssl_check_hostname=false" in hostname
    assert load(redis={"url": "redis://redis:6379/0?ssl_cert_reqs=none"}).warnings() == []
    # kombu's spelling alone: redis-py would refuse it when connecting
    with pytest.raises(ConfigError, match=r"redis\.url: ssl_cert_reqs must be none, optional or"):
        warnings("ssl_cert_reqs=CERT_NONE")
