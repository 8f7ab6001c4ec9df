"""Trade on the bundled paper exchange with plain python-binance, as you would on Binance.

Start the exchange in one terminal (it prints its URL, and a key pair if you set none):

    BINANCE_API_KEY=demo-key BINANCE_API_SECRET=demo-secret binance-mcp paper --port 8800

then, in another:

    BINANCE_API_KEY=demo-key BINANCE_API_SECRET=demo-secret \
        python examples/paper_with_python_binance.py http://127.0.0.1:8800
"""

from __future__ import annotations

import os
import sys
from decimal import Decimal

from binance import Client


def main(base_url: str) -> None:
    client = Client(os.environ["BINANCE_API_KEY"], os.environ["BINANCE_API_SECRET"], ping=False)
    # python-binance picks testnet → demo → live URLs; point all of them at the paper exchange.
    for name in ("API_URL", "API_TESTNET_URL", "API_DEMO_URL"):
        setattr(client, name, base_url + "/api")
    for name in ("FUTURES_URL", "FUTURES_TESTNET_URL", "FUTURES_DEMO_URL"):
        setattr(client, name, base_url + "/fapi")

    price = Decimal(client.get_symbol_ticker(symbol="BTCUSDT")["price"])
    print(f"BTCUSDT last price: {price}")
    bid = (price * Decimal("0.95")).quantize(Decimal("0.01"))
    order = client.create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.001",
        price=str(bid),
    )
    print(f"placed order {order['orderId']} at {bid}: {order['status']}")
    usdt = next(b for b in client.get_account()["balances"] if b["asset"] == "USDT")
    print(f"USDT free {usdt['free']}, locked {usdt['locked']}")
    cancelled = client.cancel_order(symbol="BTCUSDT", orderId=order["orderId"])
    print(f"cancelled order {cancelled['orderId']}: {cancelled['status']}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8800")
