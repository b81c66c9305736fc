"""Authentication outcomes: permanent, reported, never retried, never leaking a secret."""

from .conftest import order_status, seed, venue_calls


def test_wrong_secret_fails_with_auth_and_is_not_retried(client, admin, stack):
    [oid] = seed(admin, "zebpay-badsecret")
    final = client.cancel("zebpay-badsecret", oid).wait(10)
    assert (final["status"], final["error_code"]) == ("failed", "auth")
    assert final["http_status"] == "400" and final["venue_status"] == "Invalid signature"
    assert final["attempts"] == "1" and len(venue_calls(admin, "zebpay.cancel")) == 1
    secret = stack.settings.accounts["zebpay-badsecret"].options.api_secret.reveal()
    assert all(secret not in value for value in final.values())


def test_key_without_trading_scope_is_refused(client, admin):
    [oid] = seed(admin, "zebpay-noscope")
    final = client.cancel("zebpay-noscope", oid).wait(10)
    assert (final["status"], final["error_code"], final["http_status"]) == ("failed", "auth", "403")
    assert "scope" in final["venue_status"]


def test_jwt_account_cancels(client, admin):
    [oid] = seed(admin, "zebpay-jwt")
    assert client.cancel("zebpay-jwt", oid).wait(10)["status"] == "canceled"
    assert order_status(admin, "zebpay-jwt", oid) == "canceled"


def test_subaccount_header_is_sent(client, admin):
    # An order of subaccount 7 is cancelled through the account configured with subaccount_id=7 ...
    [oid] = seed(admin, "zebpay-sub", subaccount="7")
    assert client.cancel("zebpay-sub", oid).wait(10)["status"] == "canceled"
    # ... and is not ours without the header: the venue says "Forbidden request".
    [other] = seed(admin, "zebpay-main", subaccount="7")
    final = client.cancel("zebpay-main", other).wait(10)
    assert (final["status"], final["error_code"], final["venue_status"]) == (
        "failed",
        "auth",
        "Forbidden request",
    )
