"""The guard: everything that decides, before any request leaves the machine, what the agent may
do, and records what it did.

- policy.py, conditions.py: the policy language, its loader and its compiled conditions
- tool_index.py (+ tool_index.json): the tools it decides for, by risk class and arguments
- facts.py: what a decision is made on (notional, leverage, open orders, ...)
- engine.py: the pure decision (`decide`), in SPEC §4.4's order
- store.py: budgets, rate counters and reservations shared by every server on a state dir
- halt.py: the kill switch
- servers.py: which servers use a state dir (its marker, and the registry `status` reads)
- approvals.py, verdicts.py: the approvals queue and a person's verdict on a call
- audit.py, audit_reader.py: the audit log and reading it back
- explain.py: a policy's decision offline (`policy explain` / `policy test`)
- gate.py: `Guard`, which runs one call through all of the above

May import `binance_mcp.exchange` (prices and open orders for facts) and nothing else of the
package; never the MCP SDK: asking a person over MCP, turning a refusal into a tool error and
wrapping the tools are the server's adapter (server/guarded.py).
"""
