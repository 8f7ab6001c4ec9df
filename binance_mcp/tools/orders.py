"""What spot and futures order tools share: client ids chosen before sending, placement that
never doubles an order, and the local filter check that rejects an order with the nearest
valid values instead of rounding it."""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from binance_mcp.exchange.client import Exchange
from binance_mcp.exchange.errors import (
    ExchangeError,
    ExchangeUnreachable,
    InvalidArgument,
    ToolFailure,
)
from binance_mcp.exchange.symbol_rules import SymbolRules, failures_text

# Ours, so an order placed through this server can be recognised and looked up by its id.
CLIENT_ID_PREFIX: Final = "bmcp-"


def client_id(given: str | None) -> str:
    """The caller's id, or a fresh one: every order leaves with an id known before sending, so
    after a lost response it can be looked up instead of placed again."""
    return given if given else CLIENT_ID_PREFIX + secrets.token_hex(12)


# --- placing an order exactly once -------------------------------------------------------------

# After an ambiguous failure an order that is not found yet may still be on its way; past its
# recvWindow (and this margin) Binance refuses it, so only then is "not found" final.
SETTLE_MARGIN: Final = 0.25
# How far the exchange's time of an order may precede our clock's time of sending it (the
# offset is measured to within a round trip).
CLOCK_TOLERANCE_MS: Final = 1000


@dataclass(frozen=True)
class Placement:
    """The order as Binance has it, and how we know (None: it answered the placement)."""

    answer: dict[str, Any]
    note: str | None = None


def is_duplicate(failure: ToolFailure) -> bool:
    """Binance's answer to an order whose client id an open order already has."""
    return isinstance(failure, ExchangeError) and (
        failure.code == -4116
        or (failure.code == -2010 and "duplicate" in failure.binance_message.lower())
    )


def _ambiguous(failure: ToolFailure) -> bool:
    """The order may or may not have been accepted: no answer, or a 5xx (Binance: "execution
    status unknown"). Anything else — a 4xx, a refusal before sending — is definite."""
    if isinstance(failure, ExchangeError):
        return failure.status >= 500
    return isinstance(failure, ExchangeUnreachable) and failure.sent


async def place_order(
    ex: Exchange,
    method: str,
    params: dict[str, Any],
    *,
    cid: str,
    lookup: Callable[[], Awaitable[dict[str, Any]]],
) -> Placement:
    """Place an order that carries client id `cid`, never twice (SPEC §6).

    A definite failure is raised as it is. After an ambiguous one (timeout, reset, lost
    response, 5xx) the order is looked up by `cid` (`lookup` raises -2013 when there is none):

    - found: it was placed; that order is reported;
    - not found (also once its recvWindow is over, so that it cannot land late): it was not
      placed, and it is sent once more with the same id — a "duplicate order" answer to that
      means the first one landed after all, and that one is reported;
    - the lookup fails: the outcome is unknown, and the error names `cid` to check.

    An order found with this id that is older than this call is someone else's (a caller may
    reuse an id once its order is closed) and does not count as found.
    """
    try:
        return Placement(await ex.place(method, **params))
    except ToolFailure as first:
        if not _ambiguous(first):
            raise
        failure = first
    sent = failure.sent_at if failure.sent_at is not None else time.time()
    since_ms = int(sent * 1000) + (ex.clock_offset_ms or 0) - CLOCK_TOLERANCE_MS
    found = await _look_up(ex, failure, cid, lookup, since_ms)
    if found is not None:
        return Placement(found, f"{_why(failure)}; found by client id {cid}: placed once")
    try:
        answer = await ex.place(method, **params)
    except ToolFailure as second:
        if is_duplicate(second):
            row = await _find(second, cid, lookup)
            if row is None:
                raise _unknown(second, cid) from None
            if not _created_since(row, since_ms):
                raise ToolFailure(
                    f"{_sentence(second)} An older open order already uses client id {cid}, "
                    "so this one was not placed; give another newClientOrderId."
                ) from None
            return Placement(
                row,
                f"{_why(failure)}; sent again with client id {cid}, Binance answered that it "
                "already has it: placed once, by the first attempt",
            )
        if not _ambiguous(second):
            raise ToolFailure(
                f"{_sentence(failure)} Looked up by client id {cid}: the order did not exist, "
                f"so it was sent once more, and that failed too: {_sentence(second)} Not placed."
            ) from None
        found = await _look_up(ex, second, cid, lookup, since_ms)
        if found is None:
            raise ToolFailure(
                f"{_sentence(failure)} Looked up by client id {cid}: the order did not exist, "
                f"so it was sent once more, and that failed too: {_sentence(second)} Looked "
                f"up again by client id {cid}: it does not exist, so it was not placed."
            ) from None
        return Placement(
            found, f"{_why(failure)}; sent once more with client id {cid}: placed once"
        )
    return Placement(
        answer,
        f"{_why(failure)}; not found by client id {cid}, so sent once more with it: placed once",
    )


async def _look_up(
    ex: Exchange,
    failure: ToolFailure,
    cid: str,
    lookup: Callable[[], Awaitable[dict[str, Any]]],
    since_ms: int,
) -> dict[str, Any] | None:
    """This call's order with client id `cid`, None when it certainly does not exist (not even
    once a late copy would be refused), or an error when that cannot be known."""
    found = await _find(failure, cid, lookup)
    if found is not None and _created_since(found, since_ms):
        return found
    sent_at = failure.sent_at if failure.sent_at is not None else time.time()
    wait = sent_at + ex.policy.recv_window_ms / 1000 + SETTLE_MARGIN - time.time()
    if wait <= 0:
        return None
    await ex.sleep(wait)
    found = await _find(failure, cid, lookup)
    return found if found is not None and _created_since(found, since_ms) else None


async def _find(
    failure: ToolFailure, cid: str, lookup: Callable[[], Awaitable[dict[str, Any]]]
) -> dict[str, Any] | None:
    try:
        return await lookup()
    except ExchangeError as missing:
        if missing.code == -2013:
            return None
        raise _unknown(failure, cid, missing) from None
    except ToolFailure as lost:
        raise _unknown(failure, cid, lost) from None


def _created_since(row: dict[str, Any], since_ms: int) -> bool:
    created = row.get("time") or row.get("createTime") or row.get("transactTime")
    return created is None or int(created) >= since_ms


def _why(failure: ToolFailure) -> str:
    if isinstance(failure, ExchangeError):
        return f"the exchange answered HTTP {failure.status} (code {failure.code})"
    return f"no answer to the order ({str(failure).rstrip('.')})"


def _sentence(failure: ToolFailure) -> str:
    return str(failure).rstrip(".") + "."


def _unknown(failure: ToolFailure, cid: str, lookup: ToolFailure | None = None) -> ToolFailure:
    why = f" Looking it up failed: {_sentence(lookup)}" if lookup is not None else ""
    unknown = ToolFailure(
        f"{_sentence(failure)}{why} Whether the order was placed is UNKNOWN: look for client id "
        f"{cid} in the open orders or the order history before placing it again."
    )
    unknown.uncertain = True
    return unknown


# --- local checks ------------------------------------------------------------------------------


def check_shape(
    type: str,
    problems: list[str],
    *,
    price: Decimal | None,
    stop: Decimal | None,
    tif: str | None,
    price_types: frozenset[str],
    stop_types: frozenset[str],
    tif_types: frozenset[str],
) -> None:
    """What is missing or extra for this order type: Binance answers -1106 for a parameter a
    type does not take. Adds to the type-specific `problems` already found and raises
    `InvalidArgument` listing them all, so nothing is sent."""
    if type in price_types and price is None:
        problems.append(f"{type} needs price")
    if type not in price_types and price is not None:
        problems.append(f"{type} takes no price (remove it)")
    if type in stop_types and stop is None:
        problems.append(f"{type} needs stopPrice")
    if type not in stop_types and stop is not None:
        problems.append(f"{type} takes no stopPrice (remove it)")
    if tif is not None and type not in tif_types:
        problems.append(f"{type} takes no timeInForce; only {', '.join(sorted(tif_types))} do")
    if problems:
        raise InvalidArgument("order not sent: " + "; ".join(problems))


def precheck(
    rules: SymbolRules,
    *,
    side: str,
    is_market: bool,
    price: Decimal | None,
    quantity: Decimal | None,
    stop_price: Decimal | None,
    reference_price: Decimal | None,
    reduce_only: bool = False,
) -> None:
    """Raise `InvalidArgument` naming every failed filter; nothing is sent then."""
    if rules.status != "TRADING":
        raise InvalidArgument(f"{rules.symbol} is not trading now (status {rules.status})")
    checks = rules.check(
        side=side,
        is_market=is_market,
        price=price,
        quantity=quantity,
        stop_price=stop_price,
        reference_price=reference_price,
        reduce_only=reduce_only,
    )
    text = failures_text(rules.symbol, checks)
    if text is not None:
        raise InvalidArgument(text)


async def cancelled_anyway(
    failure: ExchangeError,
    lookup: Callable[[], Awaitable[dict[str, Any]]],
    status_key: str = "status",
) -> dict[str, Any] | None:
    """A cancel sent again after a lost answer finds the order already gone (-2011): the first
    try may have cancelled it. The order as it stands when it reads as cancelled; None when
    the failure stands."""
    if failure.code != -2011 or failure.attempts < 2:
        return None
    row = await lookup()
    return row if row.get(status_key) == "CANCELED" else None
