// Rill web console: a small single-page app over the admin API (/v1, /v3, /metrics).
// Plain JS, no dependencies; every value from the broker is inserted as text, never as HTML.
"use strict";

const state = { cluster: null, timer: null, rates: null };

// ---- helpers ----
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function table(headers, rows, numeric = []) {
  return el("table", {},
    el("thead", {}, el("tr", {}, headers.map((h, i) => el("th", { class: numeric.includes(i) ? "num" : null }, h)))),
    el("tbody", {}, rows.length ? rows.map(r => el("tr", {}, r.map((c, i) =>
      el("td", { class: numeric.includes(i) ? "num" : (c && c.wrap ? "wrap" : null) }, c && c.wrap ? c.text : c))))
      : [el("tr", {}, el("td", { colspan: headers.length, class: "muted" }, "none"))]));
}

function card(label, value, cls) {
  return el("div", { class: "card" }, el("div", { class: "label" }, label),
    el("div", { class: "value " + (cls || "") }, value));
}

function fmtBytes(n) {
  if (n === null || n === undefined || n < 0) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}

function fmtNum(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"); }

async function api(method, path, body) {
  const headers = {};
  const token = localStorage.getItem("rill.token") || "";
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch (e) { data = text; } }
  if (!res.ok) throw new Error((data && data.message) || res.status + " " + res.statusText);
  return data;
}

const v3 = p => "/v3/clusters/" + encodeURIComponent(state.cluster) + p;
const enc = encodeURIComponent;

function showError(container, err) {
  container.prepend(el("div", { class: "error" }, String(err.message || err)));
}

function decodeData(d) {
  if (d === null || d === undefined) return "null";
  if (d.type === "BINARY") {
    try { return atob(d.data); } catch (e) { return d.data; }
  }
  return d.data;
}

// Parses Prometheus text into {name{labels}: value}.
function parseMetrics(text) {
  const out = {};
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const sp = line.lastIndexOf(" ");
    out[line.slice(0, sp)] = Number(line.slice(sp + 1));
  }
  return out;
}

// A line chart of [{t, v}] as SVG.
function lineChart(points, width = 720, height = 200) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("id", "lag-chart");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  const pad = { l: 50, r: 10, t: 10, b: 24 };
  const mk = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
    return e;
  };
  if (!points.length) { mk("text", { x: 20, y: 30 }, "no samples yet"); return svg; }
  const t0 = points[0].t, t1 = Math.max(points[points.length - 1].t, t0 + 1);
  const vmax = Math.max(1, ...points.map(p => p.v));
  const x = t => pad.l + (t - t0) / (t1 - t0) * (width - pad.l - pad.r);
  const y = v => height - pad.b - v / vmax * (height - pad.t - pad.b);
  for (const f of [0, 0.5, 1]) {
    mk("line", { class: "grid", x1: pad.l, x2: width - pad.r, y1: y(vmax * f), y2: y(vmax * f) });
    mk("text", { x: 4, y: y(vmax * f) + 4 }, Math.round(vmax * f));
  }
  const pts = points.map(p => x(p.t) + "," + y(p.v));
  if (points.length === 1) pts.push((width - pad.r) + "," + y(points[0].v));
  mk("polygon", { class: "area", points: pad.l + "," + y(0) + " " + pts.join(" ") + " " + (width - pad.r) + "," + y(0) });
  mk("polyline", { class: "line", points: pts.join(" ") });
  const fmt = t => new Date(t).toLocaleTimeString();
  mk("text", { x: pad.l, y: height - 6 }, fmt(t0));
  mk("text", { x: width - pad.r - 60, y: height - 6 }, fmt(points[points.length - 1].t));
  return svg;
}

// ---- views ----
async function viewOverview(main) {
  const [brokers, health, topics, groups, metricsText] = await Promise.all([
    api("GET", "/v1/brokers"), api("GET", "/v1/cluster/health_overview"),
    api("GET", v3("/topics")), api("GET", v3("/consumer-groups")),
    fetch("/metrics").then(r => r.text())]);
  const m = parseMetrics(metricsText);
  const now = Date.now();
  const totals = { in: m["kafka_server_brokertopicmetrics_messagesin_total"] || 0,
    bin: m["kafka_server_brokertopicmetrics_bytesin_total"] || 0,
    bout: m["kafka_server_brokertopicmetrics_bytesout_total"] || 0 };
  let rates = { in: "–", bin: "–", bout: "–" };
  if (state.rates) {
    const dt = (now - state.rates.t) / 1000;
    if (dt > 0) rates = { in: ((totals.in - state.rates.in) / dt).toFixed(1) + "/s",
      bin: fmtBytes((totals.bin - state.rates.bin) / dt) + "/s",
      bout: fmtBytes((totals.bout - state.rates.bout) / dt) + "/s" };
  }
  state.rates = { t: now, ...totals };
  const partitions = topics.data.reduce((n, t) => n + t.partitions_count, 0);
  const lags = await Promise.all(groups.data.map(g =>
    api("GET", v3("/consumer-groups/" + enc(g.consumer_group_id) + "/lag-summary")).catch(() => null)));
  main.replaceChildren(
    el("h1", {}, "Cluster ", state.cluster),
    el("div", { class: "cards" },
      card("Health", health.is_healthy ? "healthy" : "unhealthy: " + health.unhealthy_reasons.join(", "),
        health.is_healthy ? "ok" : "bad"),
      card("Brokers", brokers.length), card("Topics", topics.data.length),
      card("Partitions", partitions), card("Consumer groups", groups.data.length),
      card("Messages in", rates.in), card("Bytes in", rates.bin), card("Bytes out", rates.bout),
      card("Records in (total)", fmtNum(totals.in))),
    el("h2", {}, "Brokers"),
    table(["ID", "Address", "Cores", "Version", "Disk free"], brokers.map(b => [
      b.node_id, (b.kafka_endpoints[0] || {}).address + ":" + (b.kafka_endpoints[0] || {}).port,
      b.num_cores, b.version, b.disk_space.map(d => fmtBytes(d.free) + " of " + fmtBytes(d.total)).join(", ")])),
    el("h2", {}, "Topics"),
    table(["Name", "Partitions", "Replication"], topics.data.map(t => [
      el("a", { href: "#/topic/" + enc(t.topic_name) }, t.topic_name), t.partitions_count, t.replication_factor]), [1, 2]),
    el("h2", {}, "Consumer groups"),
    table(["Group", "State", "Members", "Total lag"], groups.data.map((g, i) => [
      el("a", { href: "#/group/" + enc(g.consumer_group_id) }, g.consumer_group_id), g.state, g.members_count,
      lags[i] ? fmtNum(lags[i].total_lag) : "–"]), [2, 3]));
}

async function viewTopics(main) {
  const topics = await api("GET", v3("/topics"));
  const form = el("form", { class: "inline", id: "create-topic" },
    el("label", {}, "Name", el("input", { name: "name", required: "", placeholder: "orders" })),
    el("label", {}, "Partitions", el("input", { name: "partitions", type: "number", min: 1, value: 1 })),
    el("label", {}, "Replication", el("input", { name: "rf", type: "number", min: 1, value: 1 })),
    el("button", { type: "submit" }, "Create topic"));
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    const f = new FormData(form);
    try {
      await api("POST", v3("/topics"), { topic_name: f.get("name"),
        partitions_count: Number(f.get("partitions")), replication_factor: Number(f.get("rf")) });
      render();
    } catch (e) { showError(main, e); }
  });
  const del = name => async () => {
    if (!confirm("Delete topic " + name + "? Its data is removed.")) return;
    try { await api("DELETE", v3("/topics/" + enc(name))); render(); } catch (e) { showError(main, e); }
  };
  main.replaceChildren(el("h1", {}, "Topics"), form,
    table(["Name", "Partitions", "Replication", "Internal", ""], topics.data.map(t => [
      el("a", { href: "#/topic/" + enc(t.topic_name) }, t.topic_name), t.partitions_count,
      t.replication_factor, t.is_internal ? "yes" : "",
      t.is_internal ? "" : el("button", { class: "danger", onclick: del(t.topic_name) }, "Delete")]), [1, 2]));
}

async function viewTopic(main, name) {
  const [topic, parts, configs] = await Promise.all([
    api("GET", v3("/topics/" + enc(name))), api("GET", v3("/topics/" + enc(name) + "/partitions")),
    api("GET", v3("/topics/" + enc(name) + "/configs"))]);
  const browser = el("div", { id: "records" });
  const pick = el("select", { name: "partition" },
    parts.data.map(p => el("option", { value: p.partition_id }, "partition " + p.partition_id)));
  const offset = el("input", { name: "offset", type: "number", min: 0, placeholder: "latest" });
  const limit = el("input", { name: "limit", type: "number", min: 1, max: 500, value: 20 });
  const load = async ev => {
    if (ev) ev.preventDefault();
    let q = "?limit=" + (limit.value || 20);
    if (offset.value !== "") q += "&offset=" + offset.value;
    try {
      const r = await api("GET", v3("/topics/" + enc(name) + "/partitions/" + pick.value + "/records" + q));
      browser.replaceChildren(
        el("p", { class: "muted" }, "log start " + r.log_start_offset + ", high watermark " + r.high_watermark),
        table(["Offset", "Timestamp", "Key", "Value", "Headers"], r.data.map(rec => [
          rec.offset, new Date(rec.timestamp).toISOString(), { wrap: true, text: decodeData(rec.key) },
          { wrap: true, text: decodeData(rec.value) },
          rec.headers.map(h => h.name + "=" + (h.value === null ? "null" : atob(h.value))).join(", ")]), [0]));
    } catch (e) { showError(browser, e); }
  };
  const produce = el("form", { class: "inline" },
    el("label", {}, "Key", el("input", { name: "key", placeholder: "(null)" })),
    el("label", {}, "Value", el("input", { name: "value", size: 40 })),
    el("button", { type: "submit" }, "Produce"));
  produce.addEventListener("submit", async ev => {
    ev.preventDefault();
    const f = new FormData(produce);
    const body = { value: { type: "STRING", data: f.get("value") } };
    if (f.get("key")) body.key = { type: "STRING", data: f.get("key") };
    try {
      const r = await api("POST", v3("/topics/" + enc(name) + "/records"), body);
      pick.value = r.partition_id;
      load();
    } catch (e) { showError(main, e); }
  });
  main.replaceChildren(
    el("h1", {}, "Topic ", name),
    el("div", { class: "cards" }, card("Partitions", topic.partitions_count),
      card("Replication", topic.replication_factor),
      card("Messages", fmtNum(parts.data.reduce((n, p) => n + p.high_watermark - p.log_start_offset, 0))),
      card("Size", fmtBytes(parts.data.reduce((n, p) => n + p.size_bytes, 0)))),
    el("h2", {}, "Partitions"),
    table(["Partition", "Leader", "Replicas", "ISR", "Log start", "High watermark", "Size"], parts.data.map(p => [
      p.partition_id, p.leader_id, p.replica_ids.join(","), p.isr_ids.join(","), fmtNum(p.log_start_offset),
      fmtNum(p.high_watermark), fmtBytes(p.size_bytes)]), [0, 4, 5, 6]),
    el("h2", {}, "Configs (non-default)"),
    table(["Name", "Value", "Source"], configs.data.filter(c => !c.is_default).map(c => [c.name, c.value, c.source])),
    el("h2", {}, "Produce a record"), produce,
    el("h2", {}, "Messages"),
    el("form", { class: "inline", onsubmit: load }, el("label", {}, "Partition", pick),
      el("label", {}, "From offset", offset), el("label", {}, "Limit", limit),
      el("button", { type: "submit", class: "plain" }, "Load")),
    browser);
  await load();
}

async function viewGroups(main) {
  const groups = await api("GET", v3("/consumer-groups"));
  const lags = await Promise.all(groups.data.map(g =>
    api("GET", v3("/consumer-groups/" + enc(g.consumer_group_id) + "/lag-summary")).catch(() => null)));
  main.replaceChildren(el("h1", {}, "Consumer groups"),
    table(["Group", "State", "Assignor", "Members", "Total lag", "Max lag"], groups.data.map((g, i) => [
      el("a", { href: "#/group/" + enc(g.consumer_group_id) }, g.consumer_group_id), g.state,
      g.partition_assignor, g.members_count, lags[i] ? fmtNum(lags[i].total_lag) : "–",
      lags[i] ? fmtNum(lags[i].max_lag) : "–"]), [3, 4, 5]));
}

async function viewGroup(main, id) {
  const base = "/consumer-groups/" + enc(id);
  const [group, consumers, lags, summary, history] = await Promise.all([
    api("GET", v3(base)), api("GET", v3(base + "/consumers")), api("GET", v3(base + "/lags")),
    api("GET", v3(base + "/lag-summary")), api("GET", v3(base + "/lag-history"))]);
  main.replaceChildren(
    el("h1", {}, "Consumer group ", id),
    el("div", { class: "cards" }, card("State", group.state), card("Members", consumers.data.length),
      card("Total lag", fmtNum(summary.total_lag)), card("Max lag", fmtNum(summary.max_lag)),
      card("Generation", group.generation)),
    el("h2", {}, "Lag over the last minutes"),
    lineChart(history.data.map(s => ({ t: s.time_ms, v: s.total_lag }))),
    el("h2", {}, "Members"),
    table(["Consumer", "Client", "Host", "Assigned partitions"], consumers.data.map(c => [
      { wrap: true, text: c.consumer_id }, c.client_id, c.host,
      c.assigned_partitions.map(a => a.topic_name + "/" + a.partition_id).join(", ")])),
    el("h2", {}, "Lag per partition"),
    table(["Topic", "Partition", "Committed", "Log end", "Lag", "Consumer"], lags.data.map(l => [
      l.topic_name, l.partition_id, fmtNum(l.current_offset), fmtNum(l.log_end_offset), fmtNum(l.lag),
      { wrap: true, text: l.consumer_id || "" }]), [1, 2, 3, 4]));
}

async function viewConfigs(main) {
  const [cluster, node] = await Promise.all([api("GET", "/v1/cluster_config"), api("GET", "/v1/node_config")]);
  const form = el("form", { class: "inline" },
    el("label", {}, "Key", el("select", { name: "key" }, Object.keys(cluster).map(k => el("option", { value: k }, k)))),
    el("label", {}, "Value", el("input", { name: "value", size: 30 })),
    el("button", { type: "submit" }, "Set"));
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    const f = new FormData(form);
    try { await api("PUT", "/v1/cluster_config", { upsert: { [f.get("key")]: f.get("value") } }); render(); }
    catch (e) { showError(main, e); }
  });
  main.replaceChildren(el("h1", {}, "Broker configs"),
    el("h2", {}, "Dynamic (cluster_config)"), form,
    table(["Key", "Value"], Object.entries(cluster).map(([k, v]) => [k, JSON.stringify(v)])),
    el("h2", {}, "Effective node config"),
    table(["Key", "Value"], Object.entries(node).map(([k, v]) => [k, JSON.stringify(v)])));
}

// ---- routing ----
async function render() {
  const main = document.getElementById("main");
  const [view, arg] = (location.hash.replace(/^#\//, "") || "overview").split("/");
  for (const a of document.querySelectorAll("nav a"))
    a.classList.toggle("active", a.dataset.view === view || a.dataset.view === view + "s");
  try {
    if (!state.cluster) state.cluster = (await api("GET", "/v3/clusters")).data[0].cluster_id;
    const name = arg ? decodeURIComponent(arg) : null;
    if (view === "topics") await viewTopics(main);
    else if (view === "topic") await viewTopic(main, name);
    else if (view === "groups") await viewGroups(main);
    else if (view === "group") await viewGroup(main, name);
    else if (view === "configs") await viewConfigs(main);
    else await viewOverview(main);
    document.getElementById("status").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.loaded = view;
  } catch (e) {
    main.replaceChildren(el("h1", {}, "Error"));
    showError(main, e);
  }
}

// Overview and group pages refresh themselves; pages with forms do not (typing would be lost).
function schedule() {
  clearInterval(state.timer);
  state.timer = setInterval(() => {
    const view = (location.hash.replace(/^#\//, "") || "overview").split("/")[0];
    if (view === "overview" || view === "group" || view === "groups") render();
  }, 5000);
}

const tokenInput = document.getElementById("token");
tokenInput.value = localStorage.getItem("rill.token") || "";
tokenInput.addEventListener("change", () => localStorage.setItem("rill.token", tokenInput.value));
window.addEventListener("hashchange", () => { state.rates = null; render(); });
render();
schedule();
