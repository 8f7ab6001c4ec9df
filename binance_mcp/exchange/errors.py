"""Failures a tool reports to the agent, and Binance's error codes turned into them.

Every failure a tool can meet ends as one `ToolFailure`, whose text is what the agent reads:
what was wrong, Binance's code and message where there is one, and what would be valid. Texts
are built from parsed fields, never from an HTTP library's exception text, which can hold a
signed URL.
"""

from __future__ import annotations

from typing import Final

# One line an agent can act on, for the codes it meets most.
HINTS: Final[dict[int, str]] = {
    -1003: "request weight limit reached; wait for the Retry-After time before calling again",
    -1013: "the order breaks one of the symbol's filters; binance_check_order_precision shows "
    "each filter and the nearest valid price and quantity",
    -1021: "this machine's clock and the exchange's disagree; binance_server_time shows the "
    "offset (sync the system clock)",
    -1022: "the signature was rejected; check that the API secret belongs to the API key",
    -1102: "a mandatory parameter was missing or empty",
    -1106: "a parameter was sent that this order type does not take",
    -1111: "too many decimals; binance_exchange_info gives the symbol's tick and step sizes",
    -1121: "unknown symbol; binance_exchange_info lists the symbols of each market",
    -2010: "the exchange rejected the order (often an insufficient balance); "
    "binance_spot_balances shows what is free",
    -2011: "no such open order (already filled, cancelled or never placed); "
    "the open-orders tool shows what is open",
    -2013: "no such order; check the symbol and the order id",
    -2014: "the API key is malformed",
    -2015: "the API key is invalid, lacks permission for this call, or this IP is not allowed; "
    "testnet and demo keys only work on their own venue",
    -2019: "not enough margin for this order; reduce the quantity or the leverage, or add margin",
    -2022: "reduce-only order rejected: it would not reduce the position",
    -4003: "quantity must be greater than zero",
    -4028: "leverage is outside the symbol's allowed range",
    -4046: "the margin type is already set",
    -4061: "positionSide does not match the account's position mode (one-way: BOTH; "
    "hedge: LONG or SHORT)",
    -4116: "an order with this client order id already exists; choose another "
    "newClientOrderId, or look that order up",
    -4164: "order notional is below the symbol's minimum (usually 5 or 100 USDT); "
    "increase the quantity",
}


# Hints for answers whose code is shared with unrelated failures, chosen by the message.
MESSAGE_HINTS: Final[dict[tuple[int, str], str]] = {
    (-2010, "duplicate order"): "an open order already uses this client order id; choose "
    "another newClientOrderId, or look that order up",
}


class ToolFailure(Exception):
    """A failure the agent should see, as this one-line text."""

    # Set by the exchange layer: how many times the call was sent, and when (time.time())
    # the last try started, so that callers can reason about what may have reached Binance.
    attempts: int = 1
    sent_at: float | None = None
    # True when an order or cancel may have taken effect despite the failure.
    uncertain: bool = False


class InvalidArgument(ToolFailure):
    """The call's arguments cannot work; nothing was sent."""


class ExchangeError(ToolFailure):
    """Binance (or the paper exchange) answered with an error."""

    def __init__(
        self, venue: str, code: int, status: int, message: str, retry_after: float | None = None
    ) -> None:
        self.venue = venue
        self.code = code
        self.status = status
        self.binance_message = message
        # Seconds the exchange asked us to wait (the Retry-After header), when it said.
        self.retry_after = retry_after
        hint = _hint(code, message)
        text = f"Binance error {code} (HTTP {status}) from the {venue} venue: {message}"
        if retry_after is not None:
            text = f"{text.rstrip('.')} (Retry-After: {retry_after:g} s)"
        super().__init__(f"{text.rstrip('.')}. Hint: {hint}" if hint else text)


def _hint(code: int, message: str) -> str | None:
    lowered = message.lower()
    for (hint_code, words), hint in MESSAGE_HINTS.items():
        if code == hint_code and words in lowered:
            return hint
    return HINTS.get(code)


class ExchangeUnreachable(ToolFailure):
    """No answer: connection refused or reset, timeout, or a response that is not Binance's.

    `sent` is False when the request certainly never left (the connection could not be
    opened): such a failure is safe to retry even for a new order."""

    def __init__(self, message: str, *, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent


class MissingKeys(ToolFailure):
    """A signed call without API keys: refused before anything is sent."""


class HostBanned(ToolFailure):
    """The venue host banned this IP (HTTP 418); nothing is sent to it until `until`."""

    def __init__(self, message: str, url: str, until: float) -> None:
        super().__init__(message)
        self.url = url
        self.until = until


class RateLimited(ToolFailure):
    """Sending now would break (or keep breaking) the host's request-weight limit, and the wait
    until it may be sent again is longer than this call may take. Nothing was sent."""
