/*
 * mas console: the chat, tasks, flows and monitoring panes of
 * mas-serve(1), over its REST API only, the calls curl would make.
 *
 * No framework and no build step; nothing is fetched from elsewhere
 * (the server's Content-Security-Policy forbids it) and no HTML is
 * made from strings: every element is built with el() or svg(), so a
 * reply or a passage is always shown as text, never run as markup.
 * It is an ES module: strict, and nothing of it is a global.
 */

const $ = (id) => document.getElementById(id);
const SVGNS = "http://www.w3.org/2000/svg";

/* An element TAG with attributes ATTRS (null: none) and CHILDREN
 * (nodes, or strings made text nodes; null and false skipped). */
function make(doc, tag, attrs, children) {
  const node = doc(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}
const el = (tag, attrs, ...children) =>
  make((t) => document.createElement(t), tag, attrs, children);
const svg = (tag, attrs, ...children) =>
  make((t) => document.createElementNS(SVGNS, t), tag, attrs, children);

/* A number for people: 3 significant digits, no exponent below 1e6. */
function num(x) {
  if (typeof x !== "number" || !isFinite(x)) return "–";
  if (x === 0) return "0";
  return Math.abs(x) >= 1000 ? Math.round(x).toLocaleString("en")
    : String(Number(x.toPrecision(3)));
}
const pct = (x) => (typeof x === "number" ? `${Math.round(x * 100)} %` : "–");

/* ---- the API, and the key it may need ---- */

/* The key lives in sessionStorage: gone when the tab is closed. */
const KEY = "mas.key";
let keyPrompt = null;   // one dialog at a time, shared by all requests

/* Show the key dialog with WHY; resolves true when a key was given. */
function askKey(why) {
  if (keyPrompt) return keyPrompt;
  const dialog = $("key-dialog");
  $("key-why").textContent = why;
  $("key-input").value = "";
  keyPrompt = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const key = $("key-input").value.trim();
      keyPrompt = null;
      if (dialog.returnValue === "save" && key) {
        sessionStorage.setItem(KEY, key);
        resolve(true);
      } else {
        resolve(false);
      }
    }, { once: true });
  });
  dialog.showModal();
  return keyPrompt;
}

/* fetch PATH with the key, asking for one (and trying again) while the
 * server answers 401.  BODY (an object) is sent as JSON. */
async function call(method, path, body, accept) {
  for (;;) {
    const headers = { Accept: accept || "application/json" };
    const key = sessionStorage.getItem(KEY);
    if (key) headers["X-API-Key"] = key;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const answer = await fetch(path, {
      method, headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (answer.status !== 401) return answer;
    const why = await answer.json().then((e) => e.error.message,
      () => "the server wants an API key");
    sessionStorage.removeItem(KEY);
    if (!(await askKey(`${why}. The key is kept for this tab only.`))) {
      const error = new Error(`${path}: an API key is needed`);
      error.needsKey = true;   // the person said no: do not ask again
      throw error;
    }
  }
}

/* The data of an envelope answer, or an Error with the envelope's
 * message and field. */
async function callData(method, path, body) {
  const answer = await call(method, path, body);
  const envelope = await answer.json();
  if (envelope.status === "success") return envelope.data;
  throw envelopeError(envelope, answer.status);
}

function envelopeError(envelope, status) {
  const e = (envelope && envelope.error) || {};
  const field = e.details && e.details.field ? ` (${e.details.field})` : "";
  return new Error(`${status} ${e.code || "ERROR"}: ${e.message || "?"}` +
    field);
}

const errorLine = (error) => el("p", { class: "error" }, error.message);

/* ---- panes ---- */

const panes = { chat: null, tasks: showTasks, flows: loadFlows,
  monitor: pollMetrics };

/* Show pane NAME, hide the others, and run what the pane does when
 * shown; the pane is kept in the address (#tasks) across a reload. */
function showPane(name) {
  if (!(name in panes)) name = "chat";
  for (const button of document.querySelectorAll("nav button")) {
    const on = button.dataset.pane === name;
    button.setAttribute("aria-pressed", String(on));
    $(button.dataset.pane).hidden = !on;
  }
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  if (panes[name]) panes[name]();
}

/* ---- chat ---- */

const SESSION = "mas.session";
const LOG = "mas.chat";   // what the log shows, so a reload shows it too

function newSessionId() {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0"))
    .join("");
}

function sessionId() {
  let id = localStorage.getItem(SESSION);
  if (!id) {
    id = newSessionId();
    localStorage.setItem(SESSION, id);
    localStorage.removeItem(LOG);
  }
  $("session").textContent = id;
  return id;
}

/* The facts an agent reply carries, as a description list. */
function replyFacts(reply) {
  const sentiment = reply.sentiment || {};
  const facts = [
    ["Intent", reply.intent],
    ["Confidence", pct(reply.confidence)],
    ["Sentiment", sentiment.label ?
      `${sentiment.label} (${num(sentiment.score)})` : "–"],
    ["Suggested actions", (reply.suggested_actions || []).join(", ") ||
      "none"],
  ];
  return el("dl", { class: "facts" }, facts.map(([name, value]) =>
    el("div", null, el("dt", null, name), el("dd", null, value ?? "–"))));
}

/* One line of the log: WHO said TEXT, with FACTS (a reply) if any. */
function chatEntry(entry) {
  const li = el("li", { class: entry.who === "you" ? "you" : "agent" },
    el("span", { class: "who" }, entry.who === "you" ? "You: " : "Agent: "),
    el("span", { class: "text" }, entry.text));
  if (entry.reply) li.append(replyFacts(entry.reply));
  if (entry.error) li.append(errorLine({ message: entry.error }));
  $("chat-log").append(li);
  return li;
}

function saveEntry(entry) {
  const log = JSON.parse(localStorage.getItem(LOG) || "[]");
  log.push(entry);
  localStorage.setItem(LOG, JSON.stringify(log.slice(-50)));
}

/* Read Server-Sent Events from ANSWER, calling ON(name, data). */
async function readEvents(answer, on) {
  const reader = answer.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      let name = "message";
      const data = [];
      for (const line of buffer.slice(0, end).split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      buffer = buffer.slice(end + 2);
      on(name, data.join("\n"));
      end = buffer.indexOf("\n\n");
    }
  }
}

/* Send the message; the reply is streamed when the server streams (a
 * model writing it), else it comes whole as the one "result" event. */
async function sendChat(event) {
  event.preventDefault();
  const message = $("chat-message").value.trim();
  if (!message) return;
  $("chat-message").value = "";
  const asked = { who: "you", text: message };
  chatEntry(asked);
  saveEntry(asked);
  const li = chatEntry({ who: "agent", text: "…" });
  const text = li.querySelector(".text");
  const entry = { who: "agent", text: "" };
  let streamed = "";
  try {
    const answer = await call("POST", "/chat",
      { message, session_id: sessionId(), user_id: "console" },
      "text/event-stream");
    if (!(answer.headers.get("Content-Type") || "").startsWith(
      "text/event-stream"))
      throw envelopeError(await answer.json(), answer.status);
    await readEvents(answer, (name, data) => {
      const value = JSON.parse(data);
      if (name === "delta") {
        streamed += value.text;
        text.textContent = streamed;
      } else if (name === "result") {
        entry.text = value.data.response;
        entry.reply = value.data;
      } else if (name === "error") {
        throw envelopeError(value, "");
      }
    });
    if (!entry.reply) throw new Error("the stream ended without a result");
    text.textContent = entry.text;
    li.append(replyFacts(entry.reply));
  } catch (error) {
    entry.error = error.message;
    text.textContent = "";
    li.append(errorLine(error));
  }
  saveEntry(entry);
}

function restoreChat() {
  sessionId();
  for (const entry of JSON.parse(localStorage.getItem(LOG) || "[]"))
    chatEntry(entry);
}

/* ---- tasks ---- */

const watched = new Map();   // task_id -> last status seen
const FINISHED = ["completed", "failed"];

function taskFormChanged() {
  const type = $("task-type").value;
  for (const part of document.querySelectorAll("[data-for]"))
    part.hidden = part.dataset.for !== type;
  if (type === "flow" && !$("task-flow").options.length) loadFlows();
}

/* The task the form describes, or an Error naming what is wrong. */
function taskBody() {
  const type = $("task-type").value;
  const body = { type, priority: $("task-priority").value };
  if (type === "research") {
    body.query = $("task-query").value.trim();
    if (!body.query) throw new Error("the question is empty");
  } else if (type === "analysis") {
    body.data_source = $("task-source").value.trim();
    body.analysis_type = $("task-analysis").value;
  } else {
    let record;
    try {
      record = JSON.parse($("task-body").value);
    } catch (e) {
      throw new Error(`the record is not JSON: ${e.message}`, { cause: e });
    }
    Object.assign(body, record, { type, flow: $("task-flow").value,
      priority: body.priority });
  }
  return body;
}

async function submitTask(event) {
  event.preventDefault();
  const out = $("task-result");
  try {
    const task = await callData("POST", "/tasks", taskBody());
    watched.set(task.task_id, task.status);
    out.replaceChildren(el("p", null,
      `Task ${task.task_id} is ${task.status}.`));
    await listTasks();
    watchTasks();
  } catch (error) {
    out.replaceChildren(errorLine(error));
  }
}

/* Poll the tasks submitted here until each is finished, then show the
 * last one that finished. */
let watching = false;
async function watchTasks() {
  if (watching) return;
  watching = true;
  while ([...watched.values()].some((s) => !FINISHED.includes(s))) {
    await new Promise((resolve) => setTimeout(resolve, 400));
    for (const [id, status] of watched) {
      if (FINISHED.includes(status)) continue;
      try {
        const task = await callData("GET", `/tasks/${encodeURIComponent(id)}`);
        watched.set(id, task.status);
        if (task.status !== status) await listTasks();
        if (FINISHED.includes(task.status)) showTask(task);
      } catch (error) {
        watched.set(id, "failed");
        $("task-result").replaceChildren(errorLine(error));
      }
    }
  }
  watching = false;
}

async function listTasks() {
  const data = await callData("GET", "/tasks?limit=20");
  $("task-list").replaceChildren(...data.tasks.map((t) => el("tr", null,
    el("td", null, el("button", { type: "button", "aria-label":
      `Open task ${t.task_id}`, onclick: () => openTask(t.task_id) },
    t.task_id.slice(-8))),
    el("td", null, t.type),
    el("td", { class: `status ${t.status}` }, t.status),
    el("td", null, (t.created_at || "").replace("T", " ").slice(0, 19)))));
}

async function showTasks() {
  try {
    await listTasks();
  } catch (error) {
    $("task-result").replaceChildren(errorLine(error));
  }
}

async function openTask(id) {
  try {
    showTask(await callData("GET", `/tasks/${encodeURIComponent(id)}`));
  } catch (error) {
    $("task-result").replaceChildren(errorLine(error));
  }
}

/* A finished task's result, drawn by its type. */
function showTask(task) {
  const out = $("task-result");
  const head = el("h3", { tabindex: "-1" },
    `Task ${task.task_id}: ${task.type}, ${task.status}`);
  const parts = [head];
  if (task.error) parts.push(errorLine({ message: task.error.message ||
    JSON.stringify(task.error) }));
  const result = task.result;
  if (result && task.type === "research") parts.push(research(result));
  else if (result && task.type === "analysis") parts.push(analysis(result));
  else if (result) parts.push(el("pre", null, JSON.stringify(result, null, 2)));
  out.replaceChildren(...parts);
}

/* A research answer: summary, findings and recommendations, each
 * citation a button that shows the cited passage below it. */
function research(result) {
  const passages = new Map((result.sources || []).map((s) => [s.passage_id,
    s]));
  const cited = (item) => {
    const quote = el("div", { class: "passage" });
    const buttons = (item.sources || []).map((id, i) => {
      const source = passages.get(id) || { title: id, text: "(not returned)" };
      return el("button", { type: "button", "aria-expanded": "false",
        title: id, onclick: (e) => {
          const open = e.currentTarget.getAttribute("aria-expanded") === "true";
          for (const b of e.currentTarget.parentNode.children)
            b.setAttribute("aria-expanded", "false");
          quote.replaceChildren();
          if (open) return;
          e.currentTarget.setAttribute("aria-expanded", "true");
          quote.append(el("blockquote", null, el("p", null, source.text),
            el("footer", null, `${source.title || source.id} — ${id}`)));
        } }, `[${i + 1}] ${source.title || id}`);
    });
    return el("li", null, el("p", null, item.text),
      el("div", { class: "citations" }, buttons), quote);
  };
  return el("div", { class: "research" },
    el("p", null, el("strong", null, "Status: "), result.status || "–",
      ", confidence ", pct(result.confidence)),
    el("h4", null, "Summary"), el("p", null, result.summary || "–"),
    el("h4", null, "Findings"),
    el("ol", { class: "findings" }, (result.key_findings || []).map(cited)),
    (result.recommendations || []).length ? [el("h4", null, "Recommendations"),
      el("ol", null, result.recommendations.map(cited))] : null);
}

/* An analysis: its insights, and per metric a chart of the trend line
 * and the forecast with its interval band. */
function analysis(result) {
  const charts = [];
  for (const [horizon, metrics] of Object.entries(result.predictions || {}))
    for (const [metric, p] of Object.entries(metrics))
      charts.push(el("figure", null, forecastChart(metric, p,
        (result.summary || {})[metric], (result.current_trends || {})[metric]),
      el("figcaption", null, `${metric}, ${horizon.replace(/_/g, " ")}: ` +
        `${p.predicted_change || "–"} (${p.method || p.model || "?"}, ` +
        `${pct(p.coverage)} interval)`)));
  return el("div", { class: "analysis" },
    el("h4", null, "Insights"),
    el("ul", null, (result.insights || []).map((t) => el("li", null, t))),
    charts);
}

/*
 * The trend and forecast of METRIC as inline SVG.  The answer holds no
 * history, so the trend is drawn as the regression line it reports:
 * over row positions 0..n-1 it passes through the mean at the middle,
 * with the slope given.  Only the last rows are drawn (three times the
 * horizon), so that the forecast is not squeezed; the last value is
 * marked, and the forecast follows with its interval band.
 */
function forecastChart(metric, p, summary, trend) {
  const W = 560, H = 220, L = 56, R = 10, T = 10, B = 24;
  const f = p.forecast || [];
  const n = summary ? summary.n + summary.missing : 0;
  const from = Math.max(0, n - 3 * Math.max(f.length, 7));
  const slope = trend ? trend.slope : 0;
  const line = (i) => summary.mean + slope * (i - (n - 1) / 2);
  const ys = f.flatMap((s) => [s.lower ?? s.value, s.upper ?? s.value]);
  if (summary) ys.push(line(from), line(n - 1), summary.last);
  const lo = Math.min(...ys), hi = Math.max(...ys), span = hi - lo || 1;
  const total = n + f.length;
  const x = (i) => L + (W - L - R) * (i - from) /
    Math.max(total - 1 - from, 1);
  const y = (v) => T + (H - T - B) * (1 - (v - lo) / span);
  const band = f.map((s) => `${x(n + s.step - 1)},${y(s.upper ?? s.value)}`)
    .concat(f.slice().reverse().map((s) =>
      `${x(n + s.step - 1)},${y(s.lower ?? s.value)}`)).join(" ");
  const path = (points) =>
    points.map((q, i) => `${i ? "L" : "M"}${q}`).join("");
  return svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H,
    role: "img", "aria-label": `${metric}: trend line and ` +
      `${f.length}-step forecast with its band` },
    svg("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }),
    svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }),
    svg("text", { x: 2, y: T + 8 }, num(hi)),
    svg("text", { x: 2, y: H - B }, num(lo)),
    svg("text", { x: L, y: H - 6 }, `row ${from}`),
    svg("text", { x: W - R, y: H - 6, "text-anchor": "end" },
      f.length ? f[f.length - 1].time || `step ${f.length}` : ""),
    f.length ? svg("polygon", { class: "band", points: band }) : null,
    summary ? svg("path", { class: "series", d: path([
      `${x(from)},${y(line(from))}`,
      `${x(n - 1)},${y(line(n - 1))}`]) }) : null,
    summary ? svg("circle", { cx: x(n - 1), cy: y(summary.last), r: 3 },
      svg("title", null, `last value ${num(summary.last)}`)) : null,
    f.length ? svg("path", { class: "forecast", d: path(
      (summary ? [`${x(n - 1)},${y(summary.last)}`] : []).concat(
        f.map((s) => `${x(n + s.step - 1)},${y(s.value)}`))) }) : null);
}

/* ---- flows ---- */

/* Parse the Mermaid flowchart `mas-flow graph --format mermaid` prints:
 * nodes id((start)), id(((end))), id["label"]; edges a --> b,
 * a -.-> b, each with an optional |"label"|. */
function parseMermaid(text) {
  const nodes = new Map(), edges = [];
  const unquote = (s) => s.replace(/#quot;/g, "\"");
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const edge = line.match(/^(\S+)\s+(-->|-\.->)(?:\|"(.*)"\|)?\s+(\S+)$/);
    const node = line.match(/^([\w-]+)(?:\({2,3}|\[")(.*?)(?:\){2,3}|"\])$/);
    if (edge) {
      edges.push({ from: edge[1], to: edge[4], dotted: edge[2] === "-.->",
        label: unquote(edge[3] || "") });
    } else if (node) {
      nodes.set(node[1], unquote(node[2]));
    }
  }
  for (const e of edges)
    for (const id of [e.from, e.to]) if (!nodes.has(id)) nodes.set(id, id);
  return { nodes, edges };
}

/* Layers: longest path from the start, ignoring the edges that close a
 * loop (found by a depth-first walk), with the end below all others. */
function layers(graph) {
  const next = new Map([...graph.nodes.keys()].map((id) => [id, []]));
  for (const e of graph.edges) next.get(e.from).push(e);
  const state = new Map(), forward = [];
  const walk = (id) => {
    state.set(id, "open");
    for (const e of next.get(id)) {
      if (state.get(e.to) === "open") { e.back = true; continue; }
      forward.push(e);
      if (!state.has(e.to)) walk(e.to);
    }
    state.set(id, "done");
  };
  for (const id of graph.nodes.keys()) if (!state.has(id)) walk(id);
  const layer = new Map([...graph.nodes.keys()].map((id) => [id, 0]));
  for (let round = 0; round < graph.nodes.size; round++)
    for (const e of forward)
      layer.set(e.to, Math.max(layer.get(e.to), layer.get(e.from) + 1));
  if (layer.has("__end__"))
    layer.set("__end__", Math.max(...layer.values()) + 1);
  return layer;
}

/* The flow's graph as SVG: nodes in rows by layer, edges as lines,
 * a loop's edge as a curve on the right. */
function flowGraph(name, mermaid) {
  const graph = parseMermaid(mermaid), layer = layers(graph);
  const rows = Array.from({ length: Math.max(...layer.values()) + 1 },
    () => []);
  for (const [id, l] of layer) rows[l].push(id);
  const RH = 70, NH = 28, width = Math.max(320, ...rows.map((row) =>
    row.reduce((w, id) => w + graph.nodes.get(id).length * 7 + 40, 0)));
  const place = new Map();
  rows.forEach((row, l) => row.forEach((id, i) => {
    const w = graph.nodes.get(id).length * 7 + 20;
    place.set(id, { x: width * (i + 0.5) / row.length, y: 20 + l * RH, w });
  }));
  const H = 40 + rows.length * RH;
  const marker = `arrow-${name}`;
  const edges = graph.edges.map((e) => {
    const a = place.get(e.from), b = place.get(e.to);
    const x1 = a.x, y1 = a.y + NH / 2, x2 = b.x, y2 = b.y - NH / 2;
    const d = e.back || b.y <= a.y ?
      `M${a.x + a.w / 2},${a.y}C${width},${a.y} ${width},${b.y} ` +
        `${b.x + b.w / 2},${b.y}` : `M${x1},${y1}L${x2},${y2}`;
    const label = e.label.length > 36 ? e.label.slice(0, 35) + "…" : e.label;
    return svg("g", null,
      svg("path", { class: `edge${e.dotted ? " dotted" : ""}`, d,
        "marker-end": `url(#${marker})` }),
      label ? svg("text", { class: "edge-label", x: (x1 + x2) / 2 + 4,
        y: (y1 + y2) / 2 }, label, svg("title", null, e.label)) : null);
  });
  const nodes = [...place].map(([id, p]) => svg("g", { class: "node " +
      (id === "__start__" ? "start" : id === "__end__" ? "end" : "") },
    svg("rect", { x: p.x - p.w / 2, y: p.y - NH / 2, width: p.w,
      height: NH }),
    svg("text", { x: p.x, y: p.y + 4, "text-anchor": "middle" },
      graph.nodes.get(id))));
  return svg("svg", { viewBox: `0 0 ${width + 10} ${H}`, width: width + 10,
      height: H, role: "img",
      "aria-label": `graph of flow ${name}: ${graph.nodes.size} nodes, ` +
        `${graph.edges.length} edges (its text is below)` },
    svg("defs", null, svg("marker", { id: marker, viewBox: "0 0 10 10",
      refX: 10, refY: 5, markerWidth: 7, markerHeight: 7,
      orient: "auto-start-reverse" }, svg("path", { d: "M0,0L10,5L0,10z" }))),
    edges, nodes);
}

let flowsLoaded = false;
async function loadFlows(force) {
  if (flowsLoaded && force !== true) return;
  const list = $("flow-list");
  try {
    const data = await callData("GET", "/flows");
    flowsLoaded = true;
    $("task-flow").replaceChildren(...data.flows.filter((f) => f.valid)
      .map((f) => el("option", null, f.name)));
    list.replaceChildren(...(data.flows.length ? data.flows.map(flowPanel) :
      [el("p", null, "The server has no flows (mas-serve --flows-dir).")]));
  } catch (error) {
    list.replaceChildren(errorLine(error));
  }
}

/* One flow: its graph, its Mermaid text, and a form to run it. */
function flowPanel(flow) {
  const id = `run-${flow.name}`;
  const out = el("div", { "aria-live": "polite" });
  const body = el("textarea", { id, rows: "3" }, "{\"message\": \"hello\"}");
  const run = async (event) => {
    event.preventDefault();
    try {
      const record = JSON.parse(body.value);
      const state = await callData("POST",
        `/flows/${encodeURIComponent(flow.name)}`, record);
      out.replaceChildren(el("pre", null, JSON.stringify(state, null, 2)));
    } catch (error) {
      out.replaceChildren(errorLine(error));
    }
  };
  return el("section", { class: "flow", "aria-label": `flow ${flow.name}` },
    el("h3", null, flow.name, flow.valid ? ` (${flow.nodes} nodes)` :
      " (not valid)"),
    flow.error ? errorLine({ message: flow.error.message || flow.error })
      : null,
    flow.graph ? [flowGraph(flow.name, flow.graph), el("details", null,
      el("summary", null, "Graph as Mermaid text"), el("pre", null,
        flow.graph))] : null,
    flow.valid ? el("form", { onsubmit: run },
      el("label", { for: id }, `Record for ${flow.name} (JSON)`), body,
      el("button", { type: "submit" }, `Run ${flow.name}`)) : null,
    out);
}

/* ---- monitoring ---- */

/* A number as Prometheus writes it: "+Inf", "-Inf" and "NaN" too. */
const promNumber = (text) => ({ "+Inf": Infinity, "-Inf": -Infinity })[text]
  ?? Number(text);

/* Prometheus text as [{name, labels, value}], comments skipped. */
function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    const m = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: promNumber(m[3]) });
  }
  return samples;
}

/* The sum of the samples named NAME whose labels pass KEEP. */
const total = (samples, name, keep) => samples.filter((s) => s.name === name &&
  (!keep || keep(s.labels))).reduce((sum, s) => sum + s.value, 0);

/* The Q quantile of histogram NAME over all its series, from the
 * buckets summed by bound (as Prometheus's histogram_quantile). */
function quantile(samples, name, q) {
  const buckets = new Map();
  for (const s of samples.filter((s) => s.name === `${name}_bucket`)) {
    const le = promNumber(s.labels.le);
    buckets.set(le, (buckets.get(le) || 0) + s.value);
  }
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const count = buckets.get(Infinity) || 0;
  if (!count) return NaN;
  let below = 0, lower = 0;
  for (const bound of bounds) {
    const n = buckets.get(bound);
    if (n >= q * count)
      return bound === Infinity ? lower : lower + (bound - lower) *
        (q * count - below) / Math.max(n - below, 1);
    below = n;
    lower = bound;
  }
  return NaN;
}

let last = null;       // the previous scrape: {t, requests, sum, count}
const rates = [];      // requests per second, newest last
let polling = null;

async function scrape() {
  const answer = await call("GET", "/metrics", undefined, "text/plain");
  if (!answer.ok) throw envelopeError(await answer.json(), answer.status);
  const samples = parseMetrics(await answer.text());
  const now = performance.now() / 1000;
  const requests = total(samples, "mas_http_requests_total");
  const sum = total(samples, "mas_http_request_duration_seconds_sum");
  const count = total(samples, "mas_http_request_duration_seconds_count");
  let rate = NaN, mean = count ? sum / count : NaN;
  if (last && now > last.t) {
    rate = (requests - last.requests) / (now - last.t);
    if (count > last.count) mean = (sum - last.sum) / (count - last.count);
    rates.push(rate);
    if (rates.length > 60) rates.shift();
  }
  last = { t: now, requests, sum, count };
  const task = (state) => total(samples, "mas_tasks", (l) => l.state === state);
  const figures = [
    ["Requests per second", num(rate)],
    ["Requests", num(requests)],
    ["Server errors (5xx)", num(total(samples, "mas_http_requests_total",
      (l) => Number(l.status) >= 500))],
    ["Mean latency (last interval)", `${num(mean * 1000)} ms`],
    ["95th percentile latency", `${num(quantile(samples,
      "mas_http_request_duration_seconds", 0.95) * 1000)} ms`],
    ["Tasks queued", num(task("queued"))],
    ["Tasks running", num(task("running"))],
    ["Tasks completed", num(task("completed"))],
    ["Tasks failed", num(task("failed"))],
    ["Task queue depth", num(total(samples, "mas_task_queue_depth"))],
    ["Requests waiting for a worker", num(total(samples,
      "mas_serve_queue_depth"))],
    ["Agent records (ok / error)", `${num(total(samples, "mas_records_total",
      (l) => l.outcome === "ok"))} / ${num(total(samples, "mas_records_total",
      (l) => l.outcome === "error"))}`],
    ["Model calls", num(total(samples, "mas_llm_requests_total"))],
    ["Model cache hits", num(total(samples, "mas_llm_cache_hits_total"))],
  ];
  $("figures").replaceChildren(...figures.map(([name, value]) =>
    el("div", null, el("dt", null, name), el("dd", null, value))));
  $("rate-chart").replaceChildren(sparkline(rates));
}

/* Requests per second over the last scrapes, as a line. */
function sparkline(values) {
  const W = 560, H = 80, top = Math.max(1, ...values.filter(isFinite));
  const step = W / Math.max(values.length - 1, 1);
  const points = values.map((v, i) => `${(step * i).toFixed(1)},` +
    `${(H - 4 - (H - 8) * (isFinite(v) ? v : 0) / top).toFixed(1)}`);
  return svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label":
      `requests per second, the last ${values.length} readings, at most ` +
      `${num(top)}` },
    svg("line", { class: "axis", x1: 0, y1: H - 4, x2: W, y2: H - 4 }),
    svg("text", { x: 2, y: 12 }, `${num(top)}/s`),
    points.length > 1 ? svg("polyline", { class: "series",
      points: points.join(" ") }) : null);
}

/* Scrape every 2 s while the pane is shown. */
function pollMetrics() {
  if (polling) return;
  const tick = async () => {
    if ($("monitor").hidden) {
      polling = null;
      return;
    }
    try {
      await scrape();
    } catch (error) {
      $("figures").replaceChildren(errorLine(error));
      if (error.needsKey) {   // shown again, the pane asks again
        polling = null;
        return;
      }
    }
    polling = setTimeout(tick, 2000);
  };
  polling = setTimeout(tick, 0);
}

/* ---- health, in the header ---- */

async function health() {
  try {
    const answer = await fetch("/health");
    const h = await answer.json();
    const down = Object.entries(h.components || {}).filter(([, c]) =>
      c.status === "down").map(([name]) => name);
    $("health").textContent = `Health: ${h.status}` +
      (down.length ? ` (down: ${down.join(", ")})` : "") +
      `, mas ${h.version}, up ${h.uptime_s} s`;
  } catch (error) {
    $("health").textContent = `Health: no answer (${error.message})`;
  }
}

/* ---- start ---- */

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("nav button"))
    button.addEventListener("click", () => showPane(button.dataset.pane));
  $("chat-form").addEventListener("submit", sendChat);
  $("chat-message").addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || e.shiftKey) return;  // Shift+Enter: a new line
    e.preventDefault();
    $("chat-form").requestSubmit();
  });
  $("new-session").addEventListener("click", () => {
    localStorage.removeItem(SESSION);
    $("chat-log").replaceChildren();
    sessionId();
  });
  $("task-type").addEventListener("change", taskFormChanged);
  $("task-form").addEventListener("submit", submitTask);
  $("flows-reload").addEventListener("click", () => loadFlows(true));
  $("key-button").addEventListener("click", () => askKey(
    "Give the API key to use; it is kept for this tab only."));
  restoreChat();
  showPane(location.hash.slice(1));
  health();
  setInterval(health, 10000);
});
