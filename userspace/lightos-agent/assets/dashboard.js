// The LightOS agent's live dashboard. It reads one snapshot (/api/v1/dashboard), then follows
// the agent's Server-Sent Events (/api/v1/dashboard/stream): a `snapshot` every second and each
// `thermal` event as the kernel logs it. Charts are drawn on canvases here (no library, no CDN).
"use strict";

const HISTORY_S = 120;          // seconds of history the charts show
const history = new Map();      // key -> [{t, v}], t in agent seconds
let lastSnapshot = null;

function push(key, t, v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return;
  let h = history.get(key);
  if (!h) { h = []; history.set(key, h); }
  if (h.length && h[h.length - 1].t >= t) return;
  h.push({ t, v });
  while (h.length && h[0].t < t - HISTORY_S) h.shift();
}

// Draws series [{key, colour, label, unit}] sharing a time axis ending at `now`; a sparkline
// (canvas.spark) has no grid, scale or labels.
function drawChart(canvas, series, now) {
  const spark = canvas.classList.contains("spark");
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== w * dpr) { canvas.width = w * dpr; canvas.height = h * dpr; }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const pad = spark ? { l: 1, r: 1, t: 2, b: 2 } : { l: 40, r: 8, t: 14, b: 14 };
  const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
  g.font = "10px system-ui, sans-serif";
  g.strokeStyle = "#e3e7ec";
  g.lineWidth = 1;
  for (let i = 0; i <= 4 && !spark; i++) {
    const y = pad.t + (ph * i) / 4;
    g.beginPath(); g.moveTo(pad.l, y); g.lineTo(pad.l + pw, y); g.stroke();
  }
  g.fillStyle = "#6b7584";
  if (!spark) {
    g.fillText(`-${HISTORY_S} s`, pad.l, h - 2);
    g.fillText("now", pad.l + pw - 18, h - 2);
  }
  series.forEach((s, k) => {
    const pts = (history.get(s.key) || []).filter(p => p.t >= now - HISTORY_S);
    let lo = Math.min(...pts.map(p => p.v)), hi = Math.max(...pts.map(p => p.v));
    if (!pts.length) { lo = 0; hi = 1; }
    if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
    g.fillStyle = s.colour;
    if (!spark) g.fillText(`${s.label}: ${pts.length ? fmt(pts[pts.length - 1].v) : "–"} ${s.unit}`, pad.l + 4 + k * 150, 10);
    if (k === 0 && !spark) {
      g.fillText(fmt(hi), 2, pad.t + 8);
      g.fillText(fmt(lo), 2, pad.t + ph);
    }
    g.strokeStyle = s.colour;
    g.lineWidth = 2;
    g.beginPath();
    pts.forEach((p, i) => {
      const x = pad.l + pw * (1 - (now - p.t) / HISTORY_S);
      const y = pad.t + ph * (1 - (p.v - lo) / (hi - lo));
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
  });
}

function fmt(v) {
  if (v === null || v === undefined) return "–";
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function figure(name, id) {
  return el("div", {}, el("span", {}, name), el("b", { "data-field": id }, "–"));
}

// One card per device, made once and updated in place.
function deviceCard(d) {
  const id = `device-${d.name}`;
  let card = document.getElementById(id);
  if (card) return card;
  const guarded = d.temperature_c !== null;
  card = el("div", { class: "card", id, "data-kind": d.kind },
    el("h3", {}, d.name, el("span", { class: "muted" }, d.kind),
      el("span", { class: "badge", "data-field": "state" }, guarded ? "–" : "no thermal guard")),
    el("div", { class: "figures" },
      figure("temperature °C", "temperature"), figure("power W", "power"),
      figure("energy J", "energy"), figure("load", "load"),
      figure("jobs", "jobs"), figure("errors", "errors"),
      figure("throttles", "throttles"), figure("shutdowns", "shutdowns")),
    el("canvas", { class: "chart", "data-chart": guarded ? "thermal" : "jobs" }));
  document.getElementById("devices").append(card);
  return card;
}

function set(root, field, text) {
  const e = root.querySelector(`[data-field="${field}"]`);
  if (e && e.textContent !== String(text)) e.textContent = text;
}

const jobsSeen = new Map(); // device -> {t, jobs}, for jobs per second

function render(v) {
  lastSnapshot = v;
  const now = v.uptime_s;
  document.getElementById("node").textContent = v.node;
  document.getElementById("uptime").textContent = `up ${Math.floor(now)} s`;
  const ready = document.getElementById("ready");
  ready.textContent = v.ready ? "ready" : "not ready";
  ready.className = v.ready ? "badge" : "badge warn";
  const ke = document.getElementById("kernel-error");
  ke.hidden = !v.kernel_error;
  ke.textContent = v.kernel_error ? `kernel: ${v.kernel_error}` : "";

  for (const d of v.devices) {
    const card = deviceCard(d);
    set(card, "temperature", fmt(d.temperature_c));
    set(card, "power", fmt(d.power_w));
    set(card, "energy", fmt(d.energy_j));
    set(card, "load", d.load);
    set(card, "jobs", d.jobs);
    set(card, "errors", d.errors);
    set(card, "throttles", d.throttles);
    set(card, "shutdowns", d.shutdowns);
    if (d.thermal_state) {
      const b = card.querySelector('[data-field="state"]');
      b.textContent = d.thermal_state;
      b.className = `badge state-${d.thermal_state}`;
    }
    push(`${d.name}/temperature`, now, d.temperature_c);
    push(`${d.name}/power`, now, d.power_w);
    const before = jobsSeen.get(d.name);
    if (before && now > before.t) push(`${d.name}/jobs`, now, (d.jobs - before.jobs) / (now - before.t));
    jobsSeen.set(d.name, { t: now, jobs: d.jobs });
    const canvas = card.querySelector("canvas");
    if (canvas.dataset.chart === "thermal") {
      drawChart(canvas, [
        { key: `${d.name}/temperature`, colour: "#c53030", label: "temperature", unit: "°C" },
        { key: `${d.name}/power`, colour: "#2b6cb0", label: "power", unit: "W" },
      ], now);
    } else {
      drawChart(canvas, [{ key: `${d.name}/jobs`, colour: "#2f855a", label: "jobs", unit: "/s" }], now);
    }
  }

  const models = document.querySelector("#models tbody");
  for (const m of v.models) {
    let row = document.getElementById(`model-${m.name}`);
    if (!row) {
      row = el("tr", { id: `model-${m.name}` });
      for (const f of ["name", "device", "rate", "failures", "p50", "p90", "p99", "batch", "totals"]) {
        row.append(el("td", { "data-field": f }));
      }
      row.append(el("td", {}, el("canvas", { class: "spark" })));
      models.append(row);
    }
    set(row, "name", `${m.name} v${m.version}`);
    set(row, "device", m.device);
    set(row, "rate", fmt(m.requests_per_s));
    set(row, "failures", fmt(m.failures_per_s));
    set(row, "p50", fmt(m.p50_ms));
    set(row, "p90", fmt(m.p90_ms));
    set(row, "p99", fmt(m.p99_ms));
    set(row, "batch", `${fmt(m.mean_batch)} / ${m.max_batch} (of ${m.batch_limit})`);
    set(row, "totals", `${m.successes_total} / ${m.failures_total}`);
    push(`${m.name}/rate`, now, m.requests_per_s);
    drawChart(row.querySelector("canvas"), [{ key: `${m.name}/rate`, colour: "#6b46c1", label: "", unit: "" }], now);
  }
  for (const row of [...models.children]) {
    if (!v.models.some(m => `model-${m.name}` === row.id)) row.remove();
  }

  fillTable("#events tbody", v.events.slice().reverse(), e =>
    [`${fmt(e.at_s)} s`, e.device, e.kind, fmt(e.temperature_c), e.laser_limit_mw]);
  document.getElementById("no-events").hidden = v.events.length > 0;
  fillTable("#placements tbody", v.placements.slice().reverse(), p =>
    [`${fmt(p.at_s)} s`, p.model, p.shape, p.by, p.device, p.reason]);
}

// Replaces a table body's rows with one per item (cells from `cells`); the last cell of a
// placement is its reason.
function fillTable(selector, items, cells) {
  const body = document.querySelector(selector);
  const rows = items.map(item => {
    const c = cells(item);
    return el("tr", {}, ...c.map((text, i) =>
      el("td", i === 5 ? { class: "reason" } : {}, String(text))));
  });
  body.replaceChildren(...rows);
}

function thermalEvent(e) {
  if (!lastSnapshot) return;
  lastSnapshot.events.push(e);
  render(lastSnapshot);
}

function setLink(text, cls) {
  const link = document.getElementById("link");
  link.textContent = text;
  link.className = `badge ${cls}`;
}

async function start() {
  try {
    const r = await fetch("/api/v1/dashboard");
    if (r.ok) render(await r.json());
  } catch (e) {
    setLink("agent unreachable", "bad");
  }
  const stream = new EventSource("/api/v1/dashboard/stream");
  stream.addEventListener("open", () => setLink("live", ""));
  stream.addEventListener("snapshot", m => render(JSON.parse(m.data)));
  stream.addEventListener("thermal", m => thermalEvent(JSON.parse(m.data)));
  // EventSource reconnects by itself; say so meanwhile.
  stream.addEventListener("error", () => setLink("reconnecting", "warn"));
}

start();
