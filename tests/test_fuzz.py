"""Fuzzing every tool over MCP (in-process client, paper venue) with hypothesis: wrong types,
unicode, empty, huge, negative, NaN/Infinity strings, scientific notation with extreme
exponents, huge and tiny magnitudes, deep nesting, extra and misspelt fields, missing required
fields, random symbols. Tools and their input schemas come from `tools/list`.

Every call must end in a result or a tool error with text an agent can read (never a crash, an
opaque error or a hang), and under a policy that denies things no call may send the exchange a
request the policy forbids: the paper exchange's request log is checked after every call.

Runs: by default a bounded, derandomized profile (`binance-mcp-quick`: 10 sessions of every
tool, 20 trading sessions; ~12 s on 2 cores). Longer, random runs, with shrinking and without
the suite's per-test timeout:

    HYPOTHESIS_PROFILE=long python -m pytest tests/test_fuzz.py           # ~3 min
    HYPOTHESIS_PROFILE=long-nightly python -m pytest tests/test_fuzz.py   # ~30 min

Any other registered hypothesis profile may be named the same way.
"""

from __future__ import annotations

import itertools
import os
import string
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, Tool

from binance_mcp.paper.runner import PaperConfig, PaperExchange, start_paper_exchange
from tests.test_guard import guarded_server

_COMMON: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
    "print_blob": True,
}
# CI: bounded, reproducible, and no shrinking (each step would replay a whole session; a
# failure names the call and the request, and the calls before it, instead).
settings.register_profile(
    "binance-mcp-quick",
    max_examples=10,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    **_COMMON,
)
settings.register_profile("long", max_examples=200, **_COMMON)
settings.register_profile("long-nightly", max_examples=2000, **_COMMON)
# Any profile may be chosen (hypothesis' own "ci" too); these tests always need _COMMON.
PROFILE = settings(
    settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "binance-mcp-quick")), **_COMMON
)

# The suite's per-test timeout (pyproject) bounds the quick profile; longer runs go unbounded.
pytestmark = pytest.mark.timeout(120 if PROFILE.max_examples <= 10 else 0)

# Seconds one call may take before it counts as a hang (a slow paper exchange on a busy CI
# box answers in well under a second).
CALL_TIMEOUT = 20.0

MAX_NOTIONAL = Decimal("200")
MAX_LEVERAGE = 5
POLICY = f"""
version: 1
default: deny
classes: {{read: allow, write: allow, financial: allow, destructive: allow}}
limits:
  symbols: {{allow: [BTCUSDT]}}
  max_order_notional: "{MAX_NOTIONAL}"
  max_leverage: {MAX_LEVERAGE}
"""

ORDER_PATHS = frozenset(
    {"/api/v3/order", "/api/v3/order/test", "/fapi/v1/order", "/fapi/v1/order/test",
     "/fapi/v1/algoOrder"}
)  # fmt: skip
PLACE_TOOLS = frozenset({"binance_spot_place_order", "binance_futures_place_order"})


# --- values ------------------------------------------------------------------------------------


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.just("A" * 100_000),
    st.sampled_from([nested(6), nested(60), nested(150), {"a": nested(30)}, [0] * 5000]),
)

SYMBOLS = [
    "BTCUSDT", "btcusdt", " BTCUSDT ", "BtcUsdt", "ETHUSDT", "BNBUSDT", "ETHBTC", "SOLUSDT",
    "XRPUSDT", "BTCUSDC", "NOPEUSDT", "ＢＴＣＵＳＤＴ", "\u0412TCUSDT", "BTC\u200bUSDT",
    "btcu\u017fdt", "BTCUSDT\u0301", "BTCUSDT\x00", "", " ", "B", "BTCUSDT" * 10,
    "../../etc/passwd", "BTCUSDT'; DROP TABLE calls;--", "BTCUSDT&signature=00",
    "BTCUSDT\nX-MBX-APIKEY: x", "%42TCUSDT", "{BTCUSDT}", "BTC/USDT", "BTC-USDT",
]  # fmt: skip

SYMBOL = st.one_of(
    st.sampled_from(SYMBOLS),
    st.sampled_from(SYMBOLS),
    st.text(alphabet=string.ascii_uppercase + string.digits, max_size=12),
    st.text(max_size=20),
    JUNK,
)

NUMBER_STRINGS = [
    "0", "-0", "0.0", "-1", "1", "0.001", "0.0001", "0.00001", "0.002", "0.01", "0.1", "1e-3",
    "1E-5", "2e-3", "95000", "97000", "9.5e4", "9.5E+4", "1e400000", "1e-400000", "NaN", "nan",
    "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "0x10", "1_000", "１２３", "٣", " 1 ", "",
    " ", "1,5", "1.2.3", "+5", "00.5", "9" * 60, "0." + "0" * 40 + "1", "abc", "0.001 BTC",
    "100", "200", "200.0000001", "5", "24", "1E-999999999", "1E+999999999", "-1E-999999999",
    "1e-21", "1e20", "1e19", "0." + "0" * 19 + "1", "0." + "0" * 20 + "1", "1" + "0" * 25,
    "9.99999999999999999999e19", "1e-2147483648", "1e99999999999", "0e999999999", "5e-0000001",
]  # fmt: skip

NUMBER = st.one_of(
    st.sampled_from(NUMBER_STRINGS),
    st.sampled_from(NUMBER_STRINGS),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(10**20), max_value=10**20),
    JUNK,
)


def integer(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    edges = [0, 1, -1, 2**31, 2**63, -(2**63), 10**30]
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if key in schema:
            edges += [schema[key] - 1, schema[key], schema[key] + 1]
    return st.one_of(
        st.sampled_from(edges),
        st.integers(min_value=-(2**64), max_value=2**64),
        st.sampled_from([1.5, "5", "1e3", "", True, -0.0, 1e300]),
        JUNK,
    )


def enum(values: list[Any]) -> st.SearchStrategy[Any]:
    variants = [v for v in values if isinstance(v, str)]
    odd = (
        [f" {v} " for v in variants] + [v.lower() for v in variants] + [v.upper() for v in variants]
    )
    return st.one_of(
        st.sampled_from(values), st.sampled_from(values), st.sampled_from(odd or values), JUNK
    )


BOOLEAN = st.one_of(
    st.booleans(), st.sampled_from(["true", "false", "TRUE", "yes", "0", "1", "", 0, 1, 2]), JUNK
)


def _decimal_arguments() -> frozenset[str]:
    """Arguments typed `Decimal` (published as strings): they get the number strategy."""
    import typing

    from binance_mcp.tools import all_tools

    return frozenset(
        name
        for t in all_tools()
        for name, hint in typing.get_type_hints(t.fn, include_extras=True).items()
        if "Decimal" in repr(hint)
    )


DECIMAL_ARGUMENTS = _decimal_arguments()


def value_for(name: str, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if name in DECIMAL_ARGUMENTS:
        return NUMBER
    if "enum" in schema:
        return enum(schema["enum"])
    kind = schema.get("type")
    if name.lower().startswith("symbol") and kind == "string":
        return SYMBOL
    if kind == "array":
        items = value_for(name.rstrip("s"), schema.get("items", {}))
        return st.one_of(
            st.lists(items, max_size=5),
            st.lists(st.sampled_from(["BTCUSDT", "ETHUSDT"]), min_size=101, max_size=120),
            JUNK,
        )
    if kind == "integer":
        return integer(schema)
    if kind == "boolean":
        return BOOLEAN
    if kind == ["number", "string"] or kind == "number":
        return NUMBER
    if kind == "string":
        return st.one_of(
            st.text(max_size=40), st.sampled_from(["", "USDT", "BTC", "x" * 5000]), JUNK
        )
    # anyOf (optional values) and anything else: try each branch, and junk.
    branches = [value_for(name, s) for s in schema.get("anyOf", []) if s.get("type") != "null"]
    return st.one_of(*branches, JUNK) if branches else JUNK


EXTRA_KEYS = st.one_of(
    st.sampled_from(
        ["approval", "ctx", "signature", "timestamp", "recvWindow", "apiKey", "test", "reduceOnly",
         "closePosition", "newOrderRespType", "__proto__", "SYMBOL", "symbol ", "quantity\u200b"]
    ),
    st.text(max_size=12),
)  # fmt: skip


@st.composite
def arguments(draw: st.DrawFn, tool: Tool) -> dict[str, Any]:
    """Arguments for `tool`: each property given or not (required ones mostly given), with a
    value from its type's strategy, and sometimes fields the tool does not take."""
    schema = tool.input_schema
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    args: dict[str, Any] = {}
    for name, prop in props.items():
        present = draw(st.booleans()) or (name in required and draw(st.integers(0, 9)) > 0)
        if present:
            args[name] = draw(value_for(name, prop))
    extras = draw(st.dictionaries(EXTRA_KEYS, JUNK, max_size=2))
    args |= {k: v for k, v in extras.items() if k not in props}
    if props and draw(st.integers(0, 4)) == 0:
        # A real name misspelt as agents misspell: case, a dropped or doubled letter.
        real = draw(st.sampled_from(sorted(props)))
        cut = draw(st.integers(0, len(real) - 1))
        wrong = draw(
            st.sampled_from(
                [real.lower(), real.upper(), real[:cut] + real[cut + 1 :], real + real[-1]]
            )
        )
        if wrong not in props:
            args[wrong] = draw(value_for(real, props[real]))
    return args


# Near-valid orders: mostly well-formed, sized around the policy's limits, on allowed and
# denied symbols, so that many get as far as the exchange and the policy is what stops them.
NEAR_SYMBOL = st.sampled_from(
    ["BTCUSDT", "BTCUSDT", "BTCUSDT", "btcusdt", " BTCUSDT", "ETHUSDT", "BNBUSDT",
     "ＢＴＣＵＳＤＴ", "\u0412TCUSDT", "BTC\u200bUSDT"]
)  # fmt: skip
# Hypothesis leans towards the first values of a list: the sizes and prices most likely to
# meet a limit come first. Around 200 / 97000 = 0.00206 at the market...
NEAR_QTY = st.sampled_from(
    ["0.003", "0.0021", "0.002", "0.00206", "0.0001", "0.001", "0.01", "1e-3", "2E-3", 0.002,
     "0.00200", "0.05", "1"]
)  # fmt: skip
# ...and far under it: a SELL there fills at the market, not at its price.
NEAR_PRICE = st.sampled_from(
    ["20000", "97000", "50000", "95000", "92200", "96500", "97500", "99000", "100000",
     96000.5, "9.7e4", "94999.99", "90000"]
)  # fmt: skip
NEAR_QUOTE = st.sampled_from(["10", "150", "199.99", "200", "200.01", "250", 201, "2E2", "5"])


SPOT_SHAPES: dict[str, tuple[str, ...]] = {
    "MARKET": ("size",),
    "LIMIT": ("quantity", "price", "timeInForce?"),
    "LIMIT_MAKER": ("quantity", "price"),
    "STOP_LOSS": ("quantity", "stopPrice"),
    "TAKE_PROFIT": ("quantity", "stopPrice"),
    "STOP_LOSS_LIMIT": ("quantity", "price", "stopPrice", "timeInForce?"),
    "TAKE_PROFIT_LIMIT": ("quantity", "price", "stopPrice", "timeInForce?"),
}
FUTURES_SHAPES: dict[str, tuple[str, ...]] = {
    "MARKET": ("quantity", "reduceOnly?", "positionSide?"),
    "LIMIT": ("quantity", "price", "timeInForce?", "reduceOnly?"),
    "STOP": ("quantity", "price", "stopPrice", "workingType?"),
    "TAKE_PROFIT": ("quantity", "price", "stopPrice"),
    "STOP_MARKET": ("close", "stopPrice", "workingType?"),
    "TAKE_PROFIT_MARKET": ("close", "stopPrice"),
    "TRAILING_STOP_MARKET": ("quantity", "callbackRate"),
}
NEAR_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "quantity": NEAR_QTY,
    "price": NEAR_PRICE,
    "stopPrice": NEAR_PRICE,
    "quoteOrderQty": NEAR_QUOTE,
    "timeInForce": st.sampled_from(["GTC", "IOC", "FOK", "gtc"]),
    "reduceOnly": st.sampled_from([True, False, "true"]),
    "closePosition": st.sampled_from([True, "true"]),
    "positionSide": st.sampled_from(["BOTH", "LONG", "SHORT"]),
    "callbackRate": st.sampled_from(["0.5", "1", "11", "1e0"]),
    "workingType": st.sampled_from(["MARK_PRICE", "CONTRACT_PRICE"]),
    "test": st.booleans(),
    "newClientOrderId": st.sampled_from(["fuzz-1", "fuzz-2", "x" * 37, "bad id!"]),
}


@st.composite
def near_order(draw: st.DrawFn, tool: str) -> dict[str, Any]:
    """Mostly the shape the order type takes, sometimes with one field too many or too few."""
    shapes = SPOT_SHAPES if tool == "binance_spot_place_order" else FUTURES_SHAPES
    kind = draw(st.sampled_from(sorted(shapes)))
    args: dict[str, Any] = {
        "symbol": draw(NEAR_SYMBOL),
        "side": draw(st.sampled_from(["SELL", "BUY", "sell", "buy"])),
        "type": kind,
    }
    for part in shapes[kind]:
        name = part.rstrip("?")
        if part.endswith("?") and draw(st.booleans()):
            continue
        if name == "size":
            name = draw(st.sampled_from(["quantity", "quoteOrderQty"]))
        elif name == "close":
            name = draw(st.sampled_from(["quantity", "quantity", "closePosition"]))
        args[name] = draw(NEAR_VALUES[name])
    mutation = draw(st.integers(0, 5))
    if mutation == 0:
        name = draw(st.sampled_from(sorted(NEAR_VALUES)))
        args[name] = draw(NEAR_VALUES[name])
    elif mutation == 1 and len(args) > 3:
        del args[draw(st.sampled_from(sorted(args)))]
    return args


# --- the session and what every call must satisfy ----------------------------------------------


@dataclass
class Session:
    paper: PaperExchange
    tools: dict[str, Tool]
    log: list[str] = field(default_factory=list)


def risk_of(tool: Tool) -> str:
    hints = tool.annotations
    assert hints is not None
    if hints.read_only_hint:
        return "read"
    return "write" if not hints.destructive_hint else "other"


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise AssertionError(f"the exchange was sent a malformed number {value!r}") from None


def notional_floor(paper: PaperExchange, request: dict[str, Any]) -> Decimal | None:
    """The least an order that reached the exchange can trade, in the quote asset, by SPEC
    §4.3 (quantity x price; x the current price without one; quoteOrderQty as given) and by
    what Binance does with it: a BUY never pays more than its limit price, a SELL never gets
    less (so a SELL limit under the market trades at the market, and a SELL stop at about its
    trigger). The policy's cap must hold for it. None for an order that can only shrink a
    position (no size cap applies to those)."""
    p = request["params"]
    if "true" in (p.get("closePosition"), p.get("reduceOnly")) or (
        p.get("positionSide"),
        p.get("side"),
    ) in (("LONG", "SELL"), ("SHORT", "BUY")):
        return None
    if "quoteOrderQty" in p:
        return _decimal(p["quoteOrderQty"])
    symbol, spot = p["symbol"], request["path"].startswith("/api/")
    # The walk is frozen: only fills move the book, and not by much.
    current = paper.state.walk.prices[symbol] if spot else paper.state.futures_market.mark(symbol)
    current *= Decimal("0.98")
    price = _decimal(p["price"]) if "price" in p else None
    stop = next((_decimal(p[k]) for k in ("stopPrice", "triggerPrice") if k in p), None)
    if stop is not None:
        # Triggered, it trades at the market whatever its prices: the guard values it at the
        # highest of trigger, limit and current price.
        reference = max(price or Decimal(0), stop * Decimal("0.98"), current)
    elif p.get("side") == "BUY":
        reference = price or current
    else:
        reference = max(price or Decimal(0), current)
    return _decimal(p["quantity"]) * reference


def check_call(
    s: Session, name: str, args: dict[str, Any], result: CallToolResult, sent: list[dict[str, Any]]
) -> None:
    where = f"{name}({args!r:.300})"
    assert result.content, f"{where}: empty result"
    text = getattr(result.content[0], "text", "")
    unknown = set(args) - set(s.tools[name].input_schema.get("properties", {}))
    if unknown:
        assert result.is_error and "does not take the argument" in text, f"{where}: {text}"
        assert sent == [], f"{where} sent {sent}"
    if result.is_error:
        assert text.strip(), f"{where}: a tool error without text"
        assert "Traceback" not in text, f"{where}: {text}"
        assert text.strip() != f"Error executing tool {name}", f"{where}: opaque error"
        assert "failed inside the server" not in text, f"{where}: {text}"
    else:
        data = result.structured_content
        assert data is not None and data.get("venue") == "paper", f"{where}: {data}"
    risk = risk_of(s.tools[name])
    changes = [r for r in sent if r["method"] != "GET"]
    if risk == "read" or text.startswith(f"Error executing tool {name}: Denied by policy"):
        assert changes == [], f"{where} sent {changes} ({text[:200]})"
    for request in changes:
        params, path = request["params"], request["path"]
        if not (path == "/fapi/v1/algoOrder" and request["method"] == "DELETE"):
            assert params.get("symbol") == "BTCUSDT", f"{where} sent {request}"
        if path == "/fapi/v1/leverage":
            assert int(params["leverage"]) <= MAX_LEVERAGE, f"{where} sent {request}"
        if name in PLACE_TOOLS and path in ORDER_PATHS and request["method"] == "POST":
            notional = notional_floor(s.paper, request)
            assert notional is None or notional <= MAX_NOTIONAL, f"{where} sent {request}"


async def call(s: Session, c: Client, name: str, args: dict[str, Any]) -> None:
    start = len(s.paper.state.requests)
    s.log.append(f"{name} {args!r:.200}")
    try:
        with anyio.fail_after(CALL_TIMEOUT):
            result = await c.call_tool(name, args)
    except TimeoutError:
        raise AssertionError(
            f"{name}({args!r:.300}) did not answer within {CALL_TIMEOUT} s"
        ) from None
    try:
        check_call(s, name, args, result, list(s.paper.state.requests)[start:])
    except AssertionError as exc:
        before = "\n  ".join(s.log[-8:-1]) or "(none)"
        raise AssertionError(f"{exc}\nthe calls before it in this session:\n  {before}") from None


_runs = itertools.count()


@contextmanager
def fresh_venue(root: Path) -> Iterator[tuple[PaperExchange, MCPServer[Any]]]:
    """A paper exchange and a server on a state dir of their own, for one example: a replayed
    example meets the same exchange it was generated against."""
    base = root / f"example-{next(_runs)}"
    # A weight limit no fuzz run reaches: pacing near it would only make calls wait.
    exchange = start_paper_exchange(
        PaperConfig(state_dir=base / "paper", walk_interval=0, weight_limit=10**9)
    )
    try:
        yield exchange, guarded_server(exchange, base, POLICY, approval_timeout=1.0)
    finally:
        exchange.stop()


async def listed(c: Client) -> dict[str, Tool]:
    tools = {t.name: t for t in (await c.list_tools()).tools}
    assert len(tools) == 35
    return tools


@PROFILE
@given(data=st.data())
def test_every_tool_with_fuzzed_arguments(tmp_path: Path, data: st.DataObject) -> None:
    """One session per example; in it, every one of the 35 tools called with drawn
    arguments, in a drawn order."""

    async def session(paper: PaperExchange, server: MCPServer[Any]) -> None:
        async with Client(server, mode="legacy") as c:
            s = Session(paper, await listed(c))
            order = data.draw(st.permutations(sorted(s.tools)), label="order")
            for name in order:
                for _ in range(data.draw(st.integers(1, 2), label=f"{name} calls")):
                    args = data.draw(arguments(s.tools[name]), label=name)
                    await call(s, c, name, args)

    with fresh_venue(tmp_path) as (paper, server):
        anyio.run(session, paper, server)


TRADING = [
    "binance_spot_place_order", "binance_futures_place_order", "binance_futures_change_leverage",
    "binance_futures_set_margin_type", "binance_futures_close_position",
    "binance_spot_cancel_all_orders", "binance_futures_cancel_all_orders",
]  # fmt: skip


@settings(PROFILE, max_examples=PROFILE.max_examples * 2)
@given(data=st.data())
def test_near_valid_trading_calls_obey_the_policy(tmp_path: Path, data: st.DataObject) -> None:
    """Orders and other trading calls close to valid, sized around the limits, on allowed,
    denied and look-alike symbols, on both protocol eras: whatever reaches the exchange must
    be what the policy allows (checked after each call from the request log)."""
    era = data.draw(st.sampled_from(["legacy", "auto"]), label="era")

    async def session(paper: PaperExchange, server: MCPServer[Any]) -> None:
        async with Client(server, mode=era) as c:
            s = Session(paper, await listed(c))
            # Within max_leverage, so that futures orders are not all denied for it.
            await call(
                s, c, "binance_futures_change_leverage", {"symbol": "BTCUSDT", "leverage": 5}
            )
            for _ in range(data.draw(st.integers(20, 40), label="calls")):
                name = data.draw(st.sampled_from(TRADING), label="tool")
                if name in PLACE_TOOLS:
                    args = data.draw(near_order(name), label=name)
                elif name == "binance_futures_change_leverage":
                    args = {
                        "symbol": data.draw(NEAR_SYMBOL),
                        "leverage": data.draw(st.sampled_from([1, 5, 6, 20, 125, "5", 5.0])),
                    }
                elif name == "binance_futures_set_margin_type":
                    args = {
                        "symbol": data.draw(NEAR_SYMBOL),
                        "marginType": data.draw(st.sampled_from(["ISOLATED", "CROSSED"])),
                    }
                else:
                    args = data.draw(arguments(s.tools[name]), label=name)
                    args["symbol"] = data.draw(NEAR_SYMBOL)
                await call(s, c, name, args)

    with fresh_venue(tmp_path) as (paper, server):
        anyio.run(session, paper, server)
