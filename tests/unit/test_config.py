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
