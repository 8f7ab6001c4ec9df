// The console page: polls /api/state, follows /api/audit (server-sent events), and posts the
// person's answers with the session's CSRF token. Data is put in the page as text only.
"use strict";

let csrf = "";
let audit = null;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function showError(text) {
  const box = document.getElementById("error");
  box.textContent = text || "";
  box.hidden = !text;
}

async function post(path, body) {
  const answer = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new Error(data.error || answer.statusText);
  return data;
}

function showPage() {
  const page = (location.hash || "#approvals").slice(1);
  for (const section of document.querySelectorAll(".page")) {
    section.hidden = section.id !== "page-" + page;
  }
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.dataset.page === page);
  }
}

function renderApprovals(list) {
  const body = document.querySelector("#approvals tbody");
  if (Array.isArray(list)) {
    // Rows stay in place while their call waits (a button is never swapped under the
    // pointer); only the time left changes.
    const ids = list.map((r) => r.id + r.digest).join(",");
    if (body.dataset.ids === ids) {
      for (const r of list) {
        const row = body.querySelector(`tr[data-id="${r.id}"]`);
        if (row) row.querySelector(".left").textContent = `${r.left} s`;
      }
      return;
    }
    body.dataset.ids = ids;
  }
  body.replaceChildren();
  if (!Array.isArray(list)) {
    showError(list.error);
    return;
  }
  document.getElementById("no-approvals").hidden = list.length > 0;
  document.getElementById("approvals").hidden = list.length === 0;
  document.getElementById("pending-count").textContent = list.length ? `(${list.length})` : "";
  for (const r of list) {
    const row = el("tr");
    row.dataset.id = r.id;
    row.dataset.digest = r.digest;
    for (const v of [r.id, r.tool, r.symbol, r.side, r.quantity, r.price, r.notional]) {
      row.append(el("td", v));
    }
    const why = el("td");
    why.append(el("div", r.reason), el("code", r.rule));
    row.append(why, el("td", r.venue), el("td", `${r.left} s`, "left"));
    const act = el("td", null, "actions");
    const yes = el("button", "Approve", "ok approve");
    const no = el("button", "Deny", "danger deny");
    yes.addEventListener("click", () => decide(r, true, row));
    no.addEventListener("click", () => decide(r, false, row));
    act.append(yes, no);
    row.append(act);
    body.append(row);
  }
}

async function decide(r, approve, row) {
  for (const b of row.querySelectorAll("button")) b.disabled = true;
  try {
    const reason = approve ? "" : "denied in the console";
    await post(`/api/approvals/${encodeURIComponent(r.id)}`, { digest: r.digest, approve, reason });
    showError("");
    row.remove();
  } catch (e) {
    showError(`${r.id}: ${e.message}`);
  }
  refresh();
}

function renderTrading(t) {
  const badge = document.getElementById("state-badge");
  badge.textContent = t.state.toUpperCase();
  badge.className = "badge state-" + t.state;
  document.getElementById("trading-why").textContent = t.why;
  const servers = t.servers.length
    ? t.servers.map((s) => `pid ${s.pid} · ${s.venue} · ${s.policy} · since ${s.since}`).join("; ")
    : "no server is running on this state dir now";
  document.getElementById("trading-servers").textContent = "Servers: " + servers;
}

async function setTrading(state) {
  const reason = document.getElementById("trading-reason").value;
  try {
    renderTrading(await post("/api/trading", { state, reason }));
    showError("");
  } catch (e) {
    showError(e.message);
  }
}

function renderLimits(l) {
  document.getElementById("limits-policy").textContent =
    "Policy: " + l.policy + (l.error ? ` — cannot be read: ${l.error}` : "");
  const box = document.getElementById("limits");
  box.replaceChildren();
  for (const v of l.venues || []) {
    box.append(el("h3", `venue ${v.venue}`));
    if (!v.bars.length) box.append(el("p", "No budget, rate or account limit in this policy.", "empty"));
    for (const b of v.bars) {
      const row = el("div", null, "limit");
      row.append(el("code", b.rule));
      if (b.error) {
        row.append(el("span", b.error, "error"));
      } else {
        const bar = el("div", null, "bar" + (b.share === null ? " unknown" : ""));
        const fill = el("div", null, "fill" + (b.over ? " over" : b.share > 0.8 ? " near" : ""));
        fill.style.width = b.share === null ? "0" : `${Math.round(b.share * 100)}%`;
        bar.append(fill);
        const used = b.used === null ? "?" : b.used;
        row.append(bar, el("span", `${used} / ${b.allowed} — ${b.what}`, "figures"));
      }
      box.append(row);
    }
  }
  if (l.caps && l.caps.length) {
    box.append(el("h3", "per-call limits"));
    const list = el("ul");
    for (const c of l.caps) list.append(el("li", `${c.rule}: ${c.value}`));
    box.append(list);
  }
}

function renderPaper(points) {
  const box = document.getElementById("chart");
  box.replaceChildren();
  const now = document.getElementById("paper-now");
  if (!points.length) {
    now.textContent = "No value recorded yet (is the paper venue in use on this state dir?).";
    return;
  }
  const last = points[points.length - 1];
  now.textContent = `Now: ${last.v} USDT (${new Date(last.t * 1000).toISOString()})`;
  const W = 760, H = 240, P = 80;
  const xs = points.map((p) => p.t), ys = points.map((p) => Number(p.v));
  let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y0 -= 1; y1 += 1; }
  const sx = (x) => P + ((x - x0) / (x1 - x0)) * (W - 2 * P);
  const sy = (y) => H - P + -((y - y0) / (y1 - y0)) * (H - 2 * P);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "chart");
  const line = (a, b, c, d, cls) => {
    const l = document.createElementNS(ns, "line");
    l.setAttribute("x1", a); l.setAttribute("y1", b); l.setAttribute("x2", c); l.setAttribute("y2", d);
    l.setAttribute("class", cls);
    svg.append(l);
  };
  const label = (x, y, text, anchor) => {
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", x); t.setAttribute("y", y); t.setAttribute("text-anchor", anchor);
    t.textContent = text;
    svg.append(t);
  };
  line(P, H - P, W - P, H - P, "axis");
  line(P, P, P, H - P, "axis");
  label(P - 4, sy(y1) + 4, y1.toFixed(2), "end");
  label(P - 4, sy(y0) + 4, y0.toFixed(2), "end");
  label(P, H - P + 16, new Date(x0 * 1000).toISOString().slice(11, 19), "start");
  label(W - P, H - P + 16, new Date(x1 * 1000).toISOString().slice(11, 19), "end");
  const path = document.createElementNS(ns, "polyline");
  path.setAttribute("points", points.map((p) => `${sx(p.t)},${sy(Number(p.v))}`).join(" "));
  path.setAttribute("class", "value");
  svg.append(path);
  box.append(svg);
}

async function refresh() {
  try {
    const answer = await fetch("/api/state", { credentials: "same-origin" });
    if (!answer.ok) throw new Error(`${answer.status} ${await answer.text()}`);
    const s = await answer.json();
    renderApprovals(s.approvals);
    renderTrading(s.trading);
    renderLimits(s.limits);
    renderPaper(s.paper);
    document.body.dataset.loaded = "yes";
  } catch (e) {
    showError(e.message);
  }
}

function auditRow(r) {
  const row = el("tr", null, "decision-" + (r.decision || r.event || "other"));
  const args = r.args ? Object.entries(r.args).map(([k, v]) => `${k}=${v}`).join(" ") : (r.event || "");
  for (const v of [String(r.time || "").replace("T", " ").slice(0, 19), r.tool, r.venue,
    r.decision, r.rule, args, r.end || r.outcome, r.approval]) {
    row.append(el("td", v === undefined ? "" : v));
  }
  return row;
}

function follow() {
  if (audit) audit.close();
  const body = document.querySelector("#audit tbody");
  body.replaceChildren();
  const q = new URLSearchParams();
  const tool = document.getElementById("filter-tool").value.trim();
  const decision = document.getElementById("filter-decision").value;
  const since = document.getElementById("filter-since").value;
  if (tool) q.set("tool", tool);
  if (decision) q.set("decision", decision);
  if (since) q.set("since", since);
  const status = document.getElementById("audit-status");
  audit = new EventSource("/api/audit?" + q.toString());
  audit.onopen = () => { status.textContent = "live"; };
  audit.onerror = () => { status.textContent = "reconnecting…"; };
  audit.onmessage = (m) => {
    body.prepend(auditRow(JSON.parse(m.data)));
    while (body.children.length > 500) body.lastChild.remove();
  };
}

async function start() {
  const answer = await fetch("/api/session", { credentials: "same-origin" });
  if (!answer.ok) {
    showError("Not signed in: open the URL that `binance-mcp console` printed.");
    return;
  }
  csrf = (await answer.json()).csrf;
  for (const b of document.querySelectorAll("#page-trading button")) {
    b.addEventListener("click", () => setTrading(b.dataset.state));
  }
  const form = document.getElementById("audit-filter");
  form.addEventListener("change", follow);
  form.addEventListener("submit", (e) => { e.preventDefault(); follow(); });
  window.addEventListener("hashchange", showPage);
  showPage();
  follow();
  await refresh();
  setInterval(refresh, 1000);
}

start();
