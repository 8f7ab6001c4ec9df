"""What the connector scripts share. They run in an interpreter of their own (one per
connector, built by tests/connector_envs.py), never in the project's, so this imports nothing
of binance_mcp: only the standard library and `requests`, which both connectors depend on.

A script runs named steps; each records the connector's answer or the exception it raised, and
at the end everything is printed as one JSON document for tests/test_paper_connectors.py to
assert on. A step that fails does not stop the others: the test reports each one."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests


class Sequence:
    def __init__(self) -> None:
        self.base_url = os.environ["PAPER_URL"]
        self.api_key = os.environ["PAPER_API_KEY"]
        self.api_secret = os.environ["PAPER_API_SECRET"]
        self.results: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, int]] = []

    def watch(self, client: Any) -> Any:
        """Record every answer the connector's HTTP session receives, so the test can check that
        each request it sent reached the paper exchange and got the status the exchange logged."""
        client.session.hooks["response"].append(self._seen)
        return client

    def _seen(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        self.calls.append(
            (str(request.method), urlsplit(str(request.url)).path, response.status_code)
        )

    def step(self, name: str, call: Callable[[], Any]) -> Any:
        """Run one step and record its outcome under `name`; returns the answer, or None when
        the step raised (later steps that need the answer then fail on their own)."""
        if name in self.results:
            raise ValueError(f"step {name!r} twice")
        try:
            answer = call()
        except Exception as exc:  # a connector error is a result; anything else is reported too
            self.results[name] = {"error": describe(exc)}
            return None
        self.results[name] = {"ok": answer}
        return answer

    def set_price(self, symbol: str, price: str) -> None:
        """Move the market through the paper exchange's control endpoint (not a Binance call,
        so not made with the connector, whose calls are all checked against the exchange's log)."""
        answer = requests.post(
            f"{self.base_url}/paper/price",
            json={"symbol": symbol, "price": price},
            headers={"X-MBX-APIKEY": self.api_key},
            timeout=10,
        )
        answer.raise_for_status()

    def report(self) -> None:
        json.dump({"results": self.results, "calls": self.calls}, sys.stdout)


def describe(exc: Exception) -> dict[str, Any]:
    """An exception as the test sees it: its class, and for the connector's ClientError the
    HTTP status, Binance's code and message, and `data` (cancel-replace details)."""
    described: dict[str, Any] = {"class": f"{type(exc).__module__}.{type(exc).__qualname__}"}
    for attribute, key in FIELDS:
        if hasattr(exc, attribute):
            described[key] = getattr(exc, attribute)
    if len(described) == 1:
        described["text"] = str(exc)
    return described


FIELDS = (
    ("status_code", "status"),
    ("error_code", "code"),
    ("error_message", "msg"),
    ("error_data", "data"),
)
