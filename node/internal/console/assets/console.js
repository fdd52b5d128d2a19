// The EDGELESS console. Everything it shows comes from the orchestrator's
// admin API (/admin/v1/, same origin) and enters the page only as text
// (textContent, attribute values): never as markup.
"use strict";

const API = "/admin/v1";
const POLL_MS = 1000;
const MAX_LOG_LINES = 1000;

// h builds an element: h("td", {class: "x"}, "text", child, ...). Strings
// become text nodes.
function h(tag, attrs, ...children) {
  const svg = ["svg", "g", "rect", "text", "tspan", "path", "defs", "marker", "title"].includes(tag);
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function setStatus(text, bad) {
  const s = document.getElementById("status");
  s.textContent = text;
  s.className = bad ? "error" : "";
}

// The admin token, when the orchestrator requires one, is asked for once
// and kept for the browser tab's session (never in the page's URL).
const TOKEN_KEY = "edgeless-admin-token";

function authHeaders(extra) {
  const h = Object.assign({}, extra || {});
  const t = sessionStorage.getItem(TOKEN_KEY);
  if (t) h.Authorization = "Bearer " + t;
  return h;
}

function askToken(message) {
  if (document.getElementById("admin-token")) return;
  const input = h("input", { type: "password", id: "admin-token", autocomplete: "off", "aria-label": "admin token" });
  const save = h("button", { id: "token-save", type: "button" }, "Use token");
  const use = () => { sessionStorage.setItem(TOKEN_KEY, input.value.trim()); location.reload(); };
  save.addEventListener("click", use);
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") use(); });
  document.querySelector("header").append(h("span", { class: "row" }, h("label", { for: "admin-token", class: "error" }, message), input, save));
}

// api fetches an admin path and returns its JSON; an error answer throws
// an Error with the API's message.
async function api(path, opts) {
  opts = Object.assign({ credentials: "same-origin", cache: "no-store" }, opts);
  opts.headers = authHeaders(opts.headers);
  const resp = await fetch(API + path, opts);
  if (resp.status === 401) askToken("The orchestrator asks for its admin token:");
  const ct = resp.headers.get("Content-Type") || "";
  const body = ct.startsWith("application/json") ? await resp.json() : await resp.text();
  if (!resp.ok) {
    const err = new Error(body && body.error ? body.error : resp.status + " " + resp.statusText + (typeof body === "string" ? ": " + body : ""));
    err.status = resp.status;
    throw err;
  }
  return body;
}

function post(path, obj) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(obj) });
}

function age(iso) {
  const t = Date.parse(iso);
  if (!t || t < 0) return "-";
  let s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m" + (s % 60) + "s";
  return Math.floor(s / 3600) + "h" + Math.floor((s % 3600) / 60) + "m";
}

function short(id) { return id ? String(id).slice(0, 8) : "-"; }
function ms(v) { return v === undefined || v === null ? "-" : Math.round(v) + " ms"; }

// ---- polling: one timer per page, stopped when the page is hidden ----

let pollTimer = null;
function poll(fn) {
  let busy = false;
  const tick = async () => {
    if (busy || document.hidden) return;
    busy = true;
    try { await fn(); } finally { busy = false; }
  };
  tick();
  pollTimer = setInterval(tick, POLL_MS);
}

// ---- the domain page ----

function domainPage(app) {
  document.title = "EDGELESS console";
  app.className = "two";
  const nodes = h("tbody");
  const wfs = h("tbody");
  const prev = {}; // node id -> { n: events received, t: when }
  const input = h("textarea", { id: "workflow-file", "aria-label": "workflow file (JSON)", placeholder: "Paste a workflow file (upstream's JSON), or choose one below", spellcheck: "false" });
  const file = h("input", { type: "file", id: "workflow-upload", accept: ".json,application/json", "aria-label": "upload a workflow file" });
  const out = h("div", { id: "start-output", class: "out", "aria-live": "polite" });
  const startBtn = h("button", { id: "start", type: "button" }, "Start workflow");
  file.addEventListener("change", async () => {
    if (file.files.length) input.value = await file.files[0].text();
  });
  startBtn.addEventListener("click", () => startWorkflow(input.value, out, startBtn));
  app.replaceChildren(
    h("section", { class: "wide" }, h("h2", {}, "Nodes"), h("div", { class: "scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Node"), h("th", {}, "Status"), h("th", {}, "Runtimes"), h("th", { class: "opt" }, "Resource providers"), h("th", { class: "opt" }, "Labels"),
        h("th", {}, "Instances"), h("th", {}, "Events/s"), h("th", {}, "CPU"), h("th", { class: "opt" }, "RSS"), h("th", { class: "opt" }, "Load"),
        h("th", { class: "opt" }, "Agent"), h("th", {}, "Last update"), h("th", { class: "opt" }, "Registered"))),
      nodes))),
    h("section", {}, h("h2", {}, "Workflows"), h("div", { class: "scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Workflow"), h("th", {}, "Functions"), h("th", {}, "State"), h("th", {}, "Age"))),
      wfs))),
    h("section", {}, h("h2", {}, "Start a workflow"), input,
      h("div", { class: "row" }, file, startBtn), out),
  );
  poll(async () => {
    try {
      const [ns, ws] = await Promise.all([api("/nodes?events=1"), api("/workflows")]);
      const now = performance.now();
      for (const n of ns) {
        const p = prev[n.node_id];
        if (p && n.events_received !== undefined && now > p.t) n.rate = Math.max(0, (n.events_received - p.n) * 1000 / (now - p.t));
        if (n.events_received !== undefined) prev[n.node_id] = { n: n.events_received, t: now };
      }
      nodes.replaceChildren(...ns.map((n) => h("tr", { "data-node": n.node_id },
        h("td", { title: n.node_id }, short(n.node_id)),
        h("td", { class: n.status === "ready" ? "ok" : "error" }, n.status, n.error ? " (" + n.error + ")" : ""),
        h("td", {}, (n.runtimes || []).join(", ")),
        h("td", { class: "opt" }, (n.resource_providers || []).join(", ") || "-"),
        h("td", { class: "opt" }, (n.labels || []).join(", ")),
        h("td", {}, n.instances),
        h("td", { "data-events-rate": "", title: n.events_received !== undefined ? n.events_received + " events received" : "" }, n.rate !== undefined ? n.rate.toFixed(1) : "-"),
        h("td", {}, n.health ? n.health.proc_cpu_percent + "%" : "-"),
        h("td", { class: "opt" }, n.health ? (n.health.proc_rss_kib / 1024).toFixed(1) + " MiB" : "-"),
        h("td", { class: "opt" }, n.health ? n.health.load_avg_1.toFixed(2) : "-"),
        h("td", { class: "opt" }, n.agent_url),
        h("td", {}, age(n.last_seen) + " ago"),
        h("td", { class: "opt" }, age(n.registered_at) + " ago"))));
      if (!ns.length) nodes.replaceChildren(h("tr", {}, h("td", { colspan: 13, class: "muted" }, "No node is registered.")));
      wfs.replaceChildren(...ws.map((w) => h("tr", { "data-workflow": w.workflow_id },
        h("td", {}, h("a", { href: "/workflows/" + encodeURIComponent(w.workflow_id) }, w.workflow_id)),
        h("td", {}, w.functions.map((f) => f.name).join(", ")),
        h("td", {}, w.functions.some((f) => f.node_gone) ? "degraded" : "running"),
        h("td", {}, age(w.created_at)))));
      if (!ws.length) wfs.replaceChildren(h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No workflow is running.")));
      setStatus("updated " + new Date().toLocaleTimeString());
    } catch (e) {
      setStatus("cannot reach the orchestrator: " + e.message, true);
    }
  });
}

// startWorkflow posts a workflow file and shows its progress as the CLI
// prints it.
async function startWorkflow(text, out, btn) {
  out.replaceChildren();
  const line = (t, cls) => out.append(h("div", { class: cls || "" }, t));
  btn.disabled = true;
  try {
    const resp = await fetch(API + "/workflow-files", { method: "POST", headers: authHeaders({ "Content-Type": "application/json" }), body: text, credentials: "same-origin" });
    if (!resp.ok || !(resp.headers.get("Content-Type") || "").startsWith("application/x-ndjson")) {
      let msg = resp.status + " " + resp.statusText;
      try { const b = await resp.json(); if (b.error) msg = b.error; } catch (_) { /* not JSON */ }
      line("Error: " + msg, "error");
      return;
    }
    const reader = resp.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (value) buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const l = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (l) progress(JSON.parse(l), line, out);
      }
      if (done) break;
    }
  } catch (e) {
    line("Error: " + e.message, "error");
  } finally {
    btn.disabled = false;
  }
}

function progress(p, line, out) {
  const name = (p.function || "").padEnd(14);
  switch (p.type) {
    case "placed": line(name + " starting " + (p.image || "") + " on node " + short(p.node_id)); break;
    case "started": line(name + " started in " + ms(p.duration_ms) + ", instance " + p.function_id); break;
    case "failed": line(name + " FAILED: " + p.error, "error"); break;
    case "rolled_back": line(name + (p.error ? " rollback: stop FAILED: " + p.error : " rolled back (stopped)"), p.error ? "error" : ""); break;
    case "patched": line("".padEnd(14) + " outputs wired in " + ms(p.duration_ms)); break;
    case "done":
      out.append(h("div", { class: "ok" }, "Workflow ", h("a", { href: "/workflows/" + encodeURIComponent(p.workflow_id) }, p.workflow_id), " started"));
      break;
    case "error":
      line("Error: workflow not started: " + p.error, "error");
      if (p.detail && p.detail !== p.error) line(p.detail, "error");
      break;
    default: line(JSON.stringify(p));
  }
}

// ---- a workflow's page ----

// layout places the workflow's boxes in layers: a box sits one layer to
// the right of the furthest box that sends to it (cycles are cut).
function layout(fns) {
  const names = fns.map((f) => f.name);
  const layer = Object.fromEntries(names.map((n) => [n, 0]));
  for (let round = 0; round < names.length; round++) {
    let moved = false;
    for (const f of fns) {
      for (const to of Object.values(f.output_mapping || {})) {
        if (to in layer && to !== f.name && layer[to] < layer[f.name] + 1 && layer[f.name] + 1 < names.length) {
          layer[to] = layer[f.name] + 1;
          moved = true;
        }
      }
    }
    if (!moved) break;
  }
  const cols = [];
  for (const f of fns) (cols[layer[f.name]] = cols[layer[f.name]] || []).push(f.name);
  const W = 190, H = 70, GX = 90, GY = 30, PAD = 20;
  const pos = {};
  const rows = Math.max(1, ...cols.filter(Boolean).map((c) => c.length));
  cols.forEach((c, x) => (c || []).forEach((n, y) => {
    const off = ((rows - c.length) * (H + GY)) / 2;
    pos[n] = { x: PAD + x * (W + GX), y: PAD + off + y * (H + GY), w: W, h: H };
  }));
  const width = PAD * 2 + cols.length * W + Math.max(0, cols.length - 1) * GX;
  const height = PAD * 2 + rows * H + (rows - 1) * GY + 20;
  return { pos, width, height };
}

function drawGraph(svgHost, fns, selected, select) {
  const { pos, width, height } = layout(fns);
  const svg = h("svg", { viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": "workflow graph" },
    h("defs", {}, h("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" },
      h("path", { d: "M0,0 L10,5 L0,10 z" }))));
  for (const f of fns) {
    for (const [alias, to] of Object.entries(f.output_mapping || {})) {
      const a = pos[f.name], b = pos[to];
      if (!a || !b) continue;
      let d, lx, ly;
      if (f.name === to) {
        d = `M${a.x + a.w * 0.7},${a.y} C${a.x + a.w * 0.7},${a.y - 30} ${a.x + a.w * 0.3},${a.y - 30} ${a.x + a.w * 0.3},${a.y}`;
        lx = a.x + a.w / 2; ly = a.y - 24;
      } else if (b.x > a.x) {
        const x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x, y2 = b.y + b.h / 2, mx = (x1 + x2) / 2;
        d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
        lx = mx; ly = (y1 + y2) / 2 - 19; // the alias, and under it the count, above the line
      } else {
        const x1 = a.x + a.w / 2, y1 = a.y + a.h, x2 = b.x + b.w / 2, y2 = b.y + b.h;
        d = `M${x1},${y1} C${x1},${y1 + 40} ${x2},${y2 + 40} ${x2},${y2}`;
        lx = (x1 + x2) / 2; ly = Math.max(y1, y2) + 28;
      }
      svg.append(h("g", { class: "edge", "data-edge": f.name + ":" + alias + ":" + to },
        h("title", {}, f.name + " → " + alias + " → " + to),
        h("path", { d, "marker-end": "url(#arrow)" }),
        h("text", { x: lx, y: ly, "text-anchor": "middle" }, alias),
        h("text", { x: lx, y: ly + 14, "text-anchor": "middle", class: "small" },
          h("tspan", { "data-events": "" }, f.events_received === undefined ? "-" : (f.events_sent || {})[alias] ?? 0),
          f.sent_rate && f.sent_rate[alias] !== undefined ? "  " + f.sent_rate[alias].toFixed(1) + "/s" : "")));
    }
  }
  for (const f of fns) {
    const p = pos[f.name];
    const res = f.function_type === "RESOURCE";
    const attrs = { class: (res ? "res" : "fn") + (f.name === selected ? " selected" : ""), tabindex: 0, role: "button", "aria-label": (res ? "resource " : "function ") + f.name };
    attrs[res ? "data-resource" : "data-function"] = f.name;
    const events = h("text", { x: p.x + 10, y: p.y + 58, class: "small" }, "events ", h("tspan", { "data-events": "" }, f.events_received ?? "-"), f.rate !== undefined ? "  " + f.rate.toFixed(1) + "/s" : "");
    const g = h("g", attrs,
      h("rect", { x: p.x, y: p.y, width: p.w, height: p.h, rx: 8 }),
      h("text", { x: p.x + 10, y: p.y + 20, class: "name" }, clip(f.name, 22)),
      h("text", { x: p.x + 10, y: p.y + 38, class: "small" }, clip((res ? "resource " : "") + f.class_id + (f.node_gone ? " · node gone" : ""), 28)),
      events);
    g.addEventListener("click", () => select(f.name));
    g.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(f.name); } });
    svg.append(g);
  }
  svgHost.replaceChildren(svg);
}

function clip(s, n) { s = String(s || ""); return s.length > n ? s.slice(0, n - 1) + "…" : s; }

function workflowPage(app, id) {
  document.title = "Workflow " + id + " · EDGELESS console";
  app.className = "two";
  const graph = h("div", { class: "graph", id: "graph" });
  const rows = h("tbody");
  const stopBtn = h("button", { id: "stop", type: "button", class: "danger" }, "Stop workflow");
  const stopOut = h("div", { class: "out", "aria-live": "polite" });
  const fnSel = h("select", { id: "function", "aria-label": "function" });
  const payload = h("textarea", { id: "payload", "aria-label": "payload", placeholder: "payload (text)", spellcheck: "false", style: "min-height:3rem" });
  const castBtn = h("button", { id: "cast", type: "button", class: "secondary" }, "Cast");
  const callBtn = h("button", { id: "call", type: "button" }, "Call");
  const answer = h("div", { id: "answer", class: "out", "aria-live": "polite" });
  const logSel = h("select", { id: "log-function", "aria-label": "function whose logs are shown" });
  const level = h("select", { id: "log-level", "aria-label": "lowest level shown" },
    ...["debug", "info", "warn", "error"].map((l) => h("option", { value: l }, l)));
  level.value = "debug";
  // Following costs the nodes a request a second: it is asked for.
  const follow = h("input", { type: "checkbox", id: "log-follow" });
  follow.addEventListener("change", () => { if (follow.checked) logs.fetch(); });
  const logBox = h("div", { id: "logs", class: "log out", tabindex: 0, "aria-label": "logs" });
  // The orchestrator's lifecycle events of the workflow (starts, crashes,
  // restarts, moves), when it keeps them.
  const lifecycle = h("div", { id: "lifecycle", class: "log out", tabindex: 0, "aria-label": "lifecycle events" });
  let eventSeq = 0, eventsKept = true;
  const fetchLifecycle = async () => {
    if (!eventsKept) return;
    const resp = await fetch(API + "/workflows/" + encodeURIComponent(id) + "/events?after=" + eventSeq, { headers: authHeaders(), credentials: "same-origin", cache: "no-store" });
    if (!resp.ok || !(resp.headers.get("Content-Type") || "").startsWith("application/x-ndjson")) {
      if (resp.status === 404) eventsKept = false; // an orchestrator without lifecycle events
      return;
    }
    for (const l of (await resp.text()).split("\n")) {
      if (!l.trim()) continue;
      const e = JSON.parse(l);
      if (e.seq <= eventSeq) continue;
      eventSeq = e.seq;
      const text = new Date(e.time).toLocaleTimeString() + " " + e.type + (e.function ? " " + e.function : "") +
        (e.node_id ? " on " + short(e.node_id) : "") + (e.reason ? ": " + e.reason : "") +
        (e.restarts ? " (restarts " + e.restarts + ")" : "") + (e.duration_ms ? " in " + ms(e.duration_ms) : "");
      lifecycle.append(h("div", { "data-event": e.type, class: e.type === "failed" || e.type === "crashed" ? "error" : "" }, text));
      while (lifecycle.childElementCount > MAX_LOG_LINES) lifecycle.firstElementChild.remove();
    }
  };
  let state = { fns: [], selected: "", prev: {}, prevSent: {}, gone: false };
  const select = (name) => {
    state.selected = name; fnSel.value = name; logSel.value = name;
    logs.reset(); render();
  };
  fnSel.addEventListener("change", () => select(fnSel.value));
  logSel.addEventListener("change", () => select(logSel.value));
  level.addEventListener("change", () => logs.render());

  stopBtn.addEventListener("click", async () => {
    stopBtn.disabled = true;
    stopOut.replaceChildren(h("div", {}, "Stopping…"));
    try {
      await post("/workflows/" + encodeURIComponent(id) + "/stop", {});
      location.assign("/");
    } catch (e) {
      stopOut.replaceChildren(h("div", { class: "error" }, "Error: " + e.message));
      stopBtn.disabled = false;
    }
  });
  const send = async (kind) => {
    const name = fnSel.value;
    answer.replaceChildren(h("div", { class: "muted" }, kind + " " + name + "…"));
    try {
      const r = await post("/workflows/" + encodeURIComponent(id) + "/functions/" + encodeURIComponent(name) + "/" + kind, { payload: payload.value });
      if (kind === "cast") answer.replaceChildren(h("div", { class: "ok" }, "cast sent to " + name));
      else {
        const msg = r.msg_base64 ? "(" + atob(r.msg_base64).length + " bytes, not UTF-8)" : (r.msg || "");
        answer.replaceChildren(h("div", {}, r.type + (msg !== "" ? ": " : "")), h("pre", { id: "reply" }, msg));
      }
    } catch (e) {
      answer.replaceChildren(h("div", { class: "error" }, "Error: " + e.message));
    }
  };
  castBtn.addEventListener("click", () => send("cast"));
  callBtn.addEventListener("click", () => send("call"));

  app.replaceChildren(
    h("section", { class: "wide" },
      h("div", { class: "row" }, h("h1", { style: "flex:1" }, "Workflow ", h("span", { id: "workflow-id" }, id)), stopBtn),
      stopOut, graph),
    h("section", { class: "wide" }, h("h2", {}, "Instances"), h("div", { class: "scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Class"), h("th", {}, "Node"), h("th", {}, "State"),
        h("th", { class: "opt" }, "Started"), h("th", { class: "opt" }, "Start steps"), h("th", {}, "Events"), h("th", {}, "Events/s"),
        h("th", { class: "opt" }, "Restarts"), h("th", { class: "opt" }, "Annotations"))),
      rows))),
    h("section", { class: "wide" }, h("h2", {}, "Lifecycle events"), lifecycle),
    h("section", {}, h("h2", {}, "Cast or call"), h("div", { class: "row" }, h("label", { for: "function" }, "Function"), fnSel), payload,
      h("div", { class: "row" }, castBtn, callBtn), answer),
    h("section", {}, h("h2", {}, "Logs"),
      h("div", { class: "row" }, h("label", { for: "log-function" }, "Function"), logSel, h("label", { for: "log-level" }, "Level"), level,
        follow, h("label", { for: "log-follow" }, "Follow")), logBox),
  );

  const logs = newLogs(id, () => state.selected, logBox, level);

  function render() {
    drawGraph(graph, state.fns, state.selected, select);
    const opts = (sel) => {
      const names = state.fns.map((f) => f.name);
      if ([...sel.options].map((o) => o.value).join("\n") !== names.join("\n")) sel.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
      sel.value = state.selected;
    };
    opts(fnSel); opts(logSel);
    rows.replaceChildren(...state.fns.map((f) => {
      const steps = f.steps || {};
      const ann = Object.entries(Object.assign({}, f.annotations || {}, f.configurations || {})).map(([k, v]) => k + "=" + v).join("\n");
      return h("tr", { "data-instance": f.name },
        h("td", {}, f.name),
        h("td", {}, f.function_type === "RESOURCE" ? "resource " + f.class_id : f.class_id),
        h("td", { title: f.node_id }, short(f.node_id)),
        h("td", { class: f.node_gone || (f.health && f.health !== "running") ? "error" : "" }, f.node_gone ? "node gone" : (f.health || "running"), f.reason ? " (" + f.reason + ")" : ""),
        h("td", { class: "opt" }, age(f.started_at) + " ago"),
        h("td", { class: "opt" }, ms(f.start_ms), f.steps ? " (" + (steps.pool_hit ? "pool hit, " : "") + "image " + ms(steps.image_ms) + (steps.pool_hit ? "" : ", create " + ms(steps.create_ms)) + ", boot " + ms(steps.boot_ms) + ", init " + ms(steps.init_ms) + ")" : ""),
        h("td", {}, f.events_received ?? "-"),
        h("td", {}, f.rate !== undefined ? f.rate.toFixed(1) : "-"),
        h("td", { class: "opt" }, String(f.restarts || 0), f.moves ? ", moved " + f.moves : "", f.last_restart ? ", last " + age(f.last_restart) + " ago" : ""),
        h("td", { class: "opt" }, h("pre", { class: "annotations" }, ann)));
    }));
  }

  poll(async () => {
    if (state.gone) return;
    try {
      const wi = await api("/workflows/" + encodeURIComponent(id) + "?events=1");
      const now = performance.now();
      for (const f of wi.functions) {
        const p = state.prev[f.name];
        if (p && f.events_received !== undefined && now > p.t) f.rate = Math.max(0, (f.events_received - p.n) * 1000 / (now - p.t));
        if (f.events_received !== undefined) state.prev[f.name] = { n: f.events_received, t: now };
        if (!f.events_sent) continue;
        f.sent_rate = {};
        for (const [alias, n] of Object.entries(f.events_sent)) {
          const k = f.name + ":" + alias, q = state.prevSent[k];
          if (q && now > q.t) f.sent_rate[alias] = Math.max(0, (n - q.n) * 1000 / (now - q.t));
          state.prevSent[k] = { n, t: now };
        }
      }
      state.fns = wi.functions;
      if (!state.selected && wi.functions.length) state.selected = (wi.functions.find((f) => f.function_type !== "RESOURCE") || wi.functions[0]).name;
      render();
      await fetchLifecycle();
      if (follow.checked) await logs.fetch();
      setStatus("updated " + new Date().toLocaleTimeString());
    } catch (e) {
      if (e.status === 404) {
        state.gone = true;
        setStatus("workflow " + id + " is not running", true);
        stopBtn.disabled = true;
      } else setStatus("cannot reach the orchestrator: " + e.message, true);
    }
  });
}

// newLogs follows a function's telemetry (TelemetryLog lines) and its
// container output, merged by time.
function newLogs(id, fn, box, level) {
  const RANK = { trace: 0, debug: 0, info: 1, warn: 2, warning: 2, error: 3 };
  let seq = 0, telemetry = [], output = [], name = "";
  const levelOf = (text, fallback) => {
    const m = /^\s*\[?"?(trace|debug|info|warn|warning|error)\b/i.exec(text) || /"level"\s*:\s*"(\w+)"/i.exec(text) || /\blevel=(\w+)/i.exec(text);
    const l = m ? m[1].toLowerCase() : fallback;
    return l in RANK ? l : fallback;
  };
  const render = () => {
    const min = RANK[level.value];
    const lines = telemetry.concat(output).sort((a, b) => a.t - b.t).filter((l) => RANK[l.level] >= min).slice(-MAX_LOG_LINES);
    const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    box.replaceChildren(...lines.map((l) => h("div", { class: l.level, "data-level": l.level }, l.time + " " + l.src + ": " + l.text)));
    if (!lines.length) box.replaceChildren(h("div", { class: "muted" }, name ? "No log lines at this level yet." : ""));
    if (atEnd) box.scrollTop = box.scrollHeight;
  };
  return {
    reset() { seq = 0; telemetry = []; output = []; name = ""; render(); },
    render,
    async fetch() {
      const f = fn();
      if (!f) return;
      if (f !== name) { seq = 0; telemetry = []; output = []; name = f; }
      const base = "/workflows/" + encodeURIComponent(id) + "/functions/" + encodeURIComponent(f);
      const [tel, out] = await Promise.allSettled([api(base + "/telemetry?after=" + seq), api(base + "/logs")]);
      if (f !== name) return;
      if (tel.status === "fulfilled") {
        for (const e of tel.value.entries) {
          seq = Math.max(seq, e.seq);
          telemetry.push({ t: Date.parse(e.time), time: new Date(e.time).toLocaleTimeString(), src: e.target || "telemetry", text: e.msg, level: levelOf(e.target + " " + e.msg, "info") });
        }
        telemetry = telemetry.slice(-MAX_LOG_LINES);
      }
      if (out.status === "fulfilled") {
        output = out.value.lines.map((l) => ({ t: Date.parse(l.time), time: new Date(l.time).toLocaleTimeString(), src: l.stream, text: l.text, level: levelOf(l.text, l.stream === "stderr" ? "warn" : "info") }));
      }
      render();
    },
  };
}

function route() {
  const app = document.getElementById("app");
  const m = /^\/workflows\/([^/]+)$/.exec(location.pathname);
  if (m) workflowPage(app, decodeURIComponent(m[1]));
  else domainPage(app);
}

document.addEventListener("DOMContentLoaded", route);
