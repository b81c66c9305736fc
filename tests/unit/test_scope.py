"""Which orders a scope selects, and which scope holds another (`ordercancel/scope.py`)."""

from ordercancel.scope import Scope
from ordercancel.venues import OrderRef


def ref(side="buy", coid="strat-1", created=1000):
    return OrderRef(coid, "BTCUSDT", side, coid, created)


def test_every_selector_must_hold():
    scope = Scope(side="buy", client_order_id_prefix="strat-", placed_before_ms=2000)
    assert scope.matches(ref()) is True
    assert scope.matches(ref(side="sell")) is False
    assert scope.matches(ref(coid="other-1")) is False
    assert scope.matches(ref(created=2000)) is False  # placed before, not at
    assert Scope().matches(ref(side=None, coid=None, created=None)) is True


def test_an_order_the_listing_does_not_describe_is_neither_in_nor_out():
    assert Scope(side="buy").matches(ref(side=None)) is None
    assert Scope(client_order_id_prefix="s").matches(ref(coid=None)) is None
    assert Scope(placed_before_ms=5).matches(ref(created=None)) is None
    assert Scope(side="buy").matches(ref(coid=None)) is True  # not asked about


def test_a_scope_covers_only_narrower_ones():
    wide = Scope(symbols=("BTCUSDT", "ETHUSDT"), client_order_id_prefix="s", placed_before_ms=9)
    assert wide.covers(
        Scope(symbols=("BTCUSDT",), client_order_id_prefix="s-1", placed_before_ms=5)
    )
    assert not wide.covers(Scope(symbols=("BTCUSDT",), placed_before_ms=5))  # any client id
    assert not wide.covers(Scope(client_order_id_prefix="s", placed_before_ms=5))  # any symbol
    assert not wide.covers(Scope(symbols=("BTCUSDT",), client_order_id_prefix="s"))  # any time
    assert not Scope(side="buy").covers(Scope())
    assert Scope().covers(Scope(side="sell"))


def test_a_halt_holds_the_orders_of_its_scope_and_whatever_is_not_said():
    halt = Scope(accounts=("a",), client_order_id_prefix="stratA-")
    assert halt.holds("a", "BTCUSDT", "buy", "stratA-7")
    assert not halt.holds("a", "BTCUSDT", "buy", "stratB-7")  # another strategy trades on
    assert not halt.holds("b", client_order_id="stratA-7")
    assert halt.holds("a")  # no client id given: it may be strategy A's, so it is held
    assert halt.holds(symbol="ETHUSDT")
    assert Scope().holds("anything")
    assert Scope(symbols=("BTCUSDT",), side="buy").holds("a", client_order_id="x")
    assert not Scope(symbols=("BTCUSDT",)).holds("a", symbol="ETHUSDT")


def test_equal_scopes_share_one_key():
    a = Scope(accounts=("x",), side="buy")
    assert a.key() == Scope(accounts=("x",), side="buy").key() != Scope(accounts=("x",)).key()
    assert Scope.from_fields(a.fields()) == a


def test_listing_fields_are_read_whatever_the_venue_spells():
    from ordercancel.venues.wire import ms_of, side_of

    assert ms_of(1_700_000_000_123) == ms_of("1700000000123") == 1_700_000_000_123
    assert ms_of(1_700_000_000) == 1_700_000_000_000  # epoch seconds
    assert ms_of("2023-11-14T22:13:20Z") == ms_of("2023-11-14T22:13:20") == 1_700_000_000_000
    assert ms_of("yesterday") is ms_of(True) is ms_of(None) is None
    assert (side_of("BUY"), side_of("sell"), side_of("both"), side_of(1)) == (
        "buy",
        "sell",
        None,
        None,
    )
