"""ZebPay Futures venue."""

from ordercancel.venues.zebpay.venue import ZebPay, ZebPayOptions

__all__ = ["ZebPay", "ZebPayOptions"]
