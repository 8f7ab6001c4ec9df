"""A scripted agent session: what an MCP host does with binance-mcp, step by step, on paper.

    python examples/agent_session.py

Starts the server as a host would (`python -m binance_mcp` on stdio) on the paper venue, with a
fresh state dir and a small policy in a temporary directory, then: lists the tools, reads
prices, places a LIMIT order and cancels it, meets two policy denials, and approves one order
through MCP elicitation (standing in for the person at the keyboard). Prints a transcript and
exits 0 when every step behaved as expected, 1 otherwise. Needs no keys and no network beyond
127.0.0.1: the server starts its own paper exchange.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import textwrap
import time
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.client import ClientRequestContext
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult

ROOT = Path(__file__).resolve().parent.parent
# Whole session, start-up included; a healthy run takes a few seconds.
DEADLINE_S = 50.0

POLICY = """\
    # The session's policy: trade BTC and ETH only, at most 500 USDT an order, and a person
    # approves anything above 150 USDT.
    version: 1
    default: deny
    classes: {read: allow, write: deny, financial: allow, destructive: allow}
    tools:
      binance_spot_place_order:
        approve_if:
          - when: { notional: { gt: "150" } }
            reason: spot orders above 150 USDT need a person's yes
    limits:
      symbols: { allow: [BTCUSDT, ETHUSDT] }
      max_order_notional: "500"
"""
# Order sizes in USDT, inside each band of the policy above whatever the price is.
SMALL, NEEDS_APPROVAL, OVER_CAP = Decimal(60), Decimal(250), Decimal(900)
STEP = Decimal("0.00001")  # BTCUSDT's LOT_SIZE step
TICK = Decimal("0.01")  # BTCUSDT's PRICE_FILTER tick


class Transcript:
    """Numbered steps on stdout, and every expectation that did not hold."""

    def __init__(self) -> None:
        self.step = 0
        self.failures: list[str] = []

    def say(self, text: str) -> None:
        self.step += 1
        print(f"\n[{self.step}] {text}")

    def show(self, text: str) -> None:
        print(textwrap.indent(text, "    "))

    def expect(self, ok: bool, what: str) -> bool:
        if not ok:
            self.failures.append(f"step {self.step}: {what}")
            print(f"    !! expected: {what}")
        return ok


def text_of(result: CallToolResult) -> str:
    first = result.content[0] if result.content else None
    return str(getattr(first, "text", "")) if first is not None else ""


def data_of(t: Transcript, result: CallToolResult) -> dict[str, Any]:
    """The structured result of a call that had to succeed, on the paper venue."""
    if not t.expect(not result.is_error, f"success, got: {text_of(result)[:300]}"):
        return {}
    data = result.structured_content or {}
    t.expect(data.get("venue") == "paper", f"venue paper, got {data.get('venue')!r}")
    return data


def denial_of(t: Transcript, result: CallToolResult) -> str:
    """The policy's denial, as the agent reads it."""
    text = text_of(result)
    where = text.find("Denied by policy:")
    t.expect(result.is_error and where >= 0, f"a policy denial, got: {text[:300]}")
    return text[where:] if where >= 0 else text


def server_parameters(tmp: Path) -> StdioServerParameters:
    # The SDK gives the child a minimal environment; everything the server needs is passed
    # here. No BINANCE_API_KEY and no BINANCE_MCP_SPOT_URL: on the paper venue the server then
    # starts its own paper exchange with generated keys, and no real key can leak into it.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(tmp)),
        "BINANCE_MCP_VENUE": "paper",
        "BINANCE_MCP_STATE_DIR": str(tmp / "state"),
        "BINANCE_MCP_POLICY": str(tmp / "policy.yaml"),
        "BINANCE_MCP_LOG_LEVEL": "WARNING",
    }
    # Run from the checkout, so this example uses the server code next to it.
    return StdioServerParameters(
        command=sys.executable, args=["-m", "binance_mcp"], env=env, cwd=str(ROOT)
    )


def quantity_for(notional: Decimal, price: Decimal) -> str:
    return str((notional / price).quantize(STEP, rounding=ROUND_DOWN))


async def session(tmp: Path, t: Transcript) -> None:
    questions: list[str] = []

    async def person(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        # A host shows this question to its user; here the user reads it and says yes.
        questions.append(params.message)
        print("    the server asks the person:")
        print(textwrap.indent(params.message, "    | "))
        print("    the person accepts")
        return ElicitResult(action="accept", content={"approve": True})

    async with Client(server_parameters(tmp), elicitation_callback=person) as client:
        t.say("tools/list")
        tools = (await client.list_tools()).tools
        names = {tool.name for tool in tools}
        t.show(f"{len(tools)} tools, e.g. " + ", ".join(sorted(names)[:4]) + ", ...")
        t.expect(len(tools) == 35, f"35 tools, got {len(tools)}")

        t.say("binance_spot_price BTCUSDT, ETHUSDT")
        prices = data_of(
            t, await client.call_tool("binance_spot_price", {"symbols": ["BTCUSDT", "ETHUSDT"]})
        )
        by_symbol = {row["symbol"]: Decimal(row["price"]) for row in prices.get("prices", [])}
        for symbol, price in by_symbol.items():
            t.show(f"{symbol} {price} (venue {prices['venue']})")
        if not t.expect(set(by_symbol) == {"BTCUSDT", "ETHUSDT"}, "both prices"):
            return
        btc = by_symbol["BTCUSDT"]
        # 10 % under the market: rests on the book instead of filling.
        bid = (btc * Decimal("0.9")).quantize(TICK, rounding=ROUND_DOWN)

        small = {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": quantity_for(SMALL, bid),
            "price": str(bid),
        }
        t.say(f"place a LIMIT buy of {small['quantity']} BTC at {bid} (~{SMALL} USDT)")
        placed = data_of(t, await client.call_tool("binance_spot_place_order", small))
        order = placed.get("order") or {}
        t.show(f"order {order.get('orderId')} {order.get('status')}")
        t.expect(order.get("status") == "NEW", "the order rests (NEW)")
        t.expect(questions == [], "no approval asked for a small order")

        t.say("binance_spot_open_orders BTCUSDT")
        listed = data_of(
            t, await client.call_tool("binance_spot_open_orders", {"symbol": "BTCUSDT"})
        )
        ids = [o["orderId"] for o in listed.get("orders", [])]
        t.show(f"open: {ids}")
        t.expect(ids == [order.get("orderId")], "exactly that order is open")

        t.say(f"cancel order {order.get('orderId')}")
        cancelled = data_of(
            t,
            await client.call_tool(
                "binance_spot_cancel_order", {"symbol": "BTCUSDT", "orderId": order.get("orderId")}
            ),
        )
        status = (cancelled.get("order") or {}).get("status")
        t.show(f"order {order.get('orderId')} {status}")
        t.expect(status == "CANCELED", "the order is cancelled")

        t.say("place an order on SOLUSDT (not in the policy's symbol list)")
        sol = {**small, "symbol": "SOLUSDT", "quantity": "0.5", "price": "150"}
        denied = denial_of(t, await client.call_tool("binance_spot_place_order", sol))
        t.show(denied)
        t.expect("limits.symbols.allow" in denied, "denied by limits.symbols.allow")

        big = {**small, "quantity": quantity_for(OVER_CAP, bid)}
        t.say(f"place a LIMIT buy of {big['quantity']} BTC (~{OVER_CAP} USDT, over the cap)")
        denied = denial_of(t, await client.call_tool("binance_spot_place_order", big))
        t.show(denied)
        t.expect("limits.max_order_notional" in denied, "denied by limits.max_order_notional")
        t.expect(questions == [], "nobody asked about a call the policy denies")

        t.say("binance_spot_open_orders: the denied orders never reached the exchange")
        listed = data_of(t, await client.call_tool("binance_spot_open_orders", {}))
        t.show(f"open: {[o['orderId'] for o in listed.get('orders', [])]}")
        t.expect(listed.get("orders") == [], "no open orders")

        medium = {**small, "quantity": quantity_for(NEEDS_APPROVAL, bid)}
        t.say(f"place a LIMIT buy of {medium['quantity']} BTC (~{NEEDS_APPROVAL} USDT: approval)")
        placed = data_of(t, await client.call_tool("binance_spot_place_order", medium))
        approved = placed.get("order") or {}
        t.show(f"order {approved.get('orderId')} {approved.get('status')}")
        t.expect(approved.get("status") == "NEW", "the approved order is placed")
        t.expect(len(questions) == 1, f"one approval question, got {len(questions)}")
        if questions:
            t.expect(
                "Approve binance_spot_place_order on paper?" in questions[0]
                and "approve_if[0]" in questions[0],
                "the question names the tool, the venue and the rule",
            )

        t.say("cancel all BTCUSDT orders")
        cancelled = data_of(
            t, await client.call_tool("binance_spot_cancel_all_orders", {"symbol": "BTCUSDT"})
        )
        gone = [o["orderId"] for o in cancelled.get("cancelled", [])]
        t.show(f"cancelled: {gone}")
        t.expect(gone == [approved.get("orderId")], "the approved order is cancelled")

    t.say("the audit log (one line per decided call, in the state dir)")
    audit = tmp / "state" / "audit.jsonl"
    lines = [json.loads(line) for line in audit.read_text().splitlines()] if audit.exists() else []
    for line in lines:
        if line["class"] != "read":
            approval = f", approval {line['approval']}" if "approval" in line else ""
            t.show(f"{line['decision']:<8} {line['tool']} ({line['rule']}{approval})")
    decisions = [(line["decision"], line.get("approval")) for line in lines]
    t.expect(("deny", None) in decisions, "the denials are recorded")
    t.expect(("approve", "elicitation") in decisions, "the approval is recorded")


def main() -> int:
    started = time.monotonic()
    t = Transcript()
    with tempfile.TemporaryDirectory(prefix="binance-mcp-session-") as name:
        tmp = Path(name)
        (tmp / "policy.yaml").write_text(textwrap.dedent(POLICY), encoding="utf-8")
        print(f"binance-mcp agent session: paper venue, state in {tmp / 'state'}")
        print("policy:")
        print(textwrap.indent(textwrap.dedent(POLICY).strip(), "  | "))

        async def run() -> None:
            with anyio.fail_after(DEADLINE_S):
                await session(tmp, t)

        try:
            anyio.run(run)
        except TimeoutError:
            t.failures.append(f"the session did not finish within {DEADLINE_S:.0f} s")
    took = time.monotonic() - started
    if t.failures:
        print(f"\nFAILED ({len(t.failures)}) after {took:.1f} s:")
        for failure in t.failures:
            print(f"  - {failure}")
        return 1
    print(f"\nOK: all {t.step} steps behaved as expected ({took:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
