// Planerix dashboard: small progressive scripts (the pages work without them).
"use strict";

function readJson(id) {
  const element = document.getElementById(id);
  return element ? JSON.parse(element.textContent) : null;
}

function dateLabel(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

// A key result's check-ins against the straight line from its start to its target.
function drawHistory() {
  const data = readJson("history-data");
  const canvas = document.getElementById("history-chart");
  if (!data || !canvas || typeof Chart === "undefined") return;
  const points = (rows) => rows.map((row) => ({x: Date.parse(row.t), y: row.value}));
  const chart = new Chart(canvas, {
    type: "line",
    data: {datasets: [
      {label: "Check-ins", data: points(data.check_ins), borderColor: "#1d4ed8", backgroundColor: "#1d4ed8",
       pointRadius: 4, tension: 0},
      {label: "Expected pace", data: points(data.pace), borderColor: "#6b7280", borderDash: [6, 4],
       pointRadius: 0},
    ]},
    options: {
      animation: false, maintainAspectRatio: false, parsing: false,
      scales: {x: {type: "linear", ticks: {callback: dateLabel, maxTicksLimit: 6}},
               y: {title: {display: !!data.unit, text: data.unit}}},
      plugins: {tooltip: {callbacks: {title: (items) => dateLabel(items[0].parsed.x)}}},
    },
  });
  canvas.dataset.checkIns = String(data.check_ins.length);  // for tests and scripts: what is drawn
  window.planerixCharts = window.planerixCharts || {};
  window.planerixCharts.history = chart;
}

// A KPI per period, with its target and the warn and alarm bands (red beyond the alarm
// threshold, amber between warn and alarm), on the side the direction says is bad.
function drawKpi() {
  const data = readJson("kpi-data");
  const canvas = document.getElementById("kpi-chart");
  if (!data || !canvas || typeof Chart === "undefined") return;
  const xs = data.points.map((p) => Date.parse(p.t));
  const span = xs.length ? [xs[0], xs[xs.length - 1]] : [];
  const level = (y) => span.map((x) => ({x: x, y: y}));
  const healthColour = {green: "#166534", yellow: "#92400e", red: "#b91c1c"};
  const datasets = [];
  if (data.alarm !== null && data.warn !== null) {
    const bad = data.direction === "higher_is_better" ? "start" : "end";
    datasets.push({label: "Alarm", data: level(data.alarm), borderColor: "#b91c1c", borderWidth: 1,
                   pointRadius: 0, fill: bad, backgroundColor: "rgba(185, 28, 28, 0.12)"});
    datasets.push({label: "Warn", data: level(data.warn), borderColor: "#92400e", borderWidth: 1,
                   pointRadius: 0, fill: "-1", backgroundColor: "rgba(217, 119, 6, 0.15)"});
  }
  if (data.target !== null) {
    datasets.push({label: "Target", data: level(data.target), borderColor: "#166534", borderDash: [6, 4],
                   pointRadius: 0, fill: false});
  }
  datasets.push({label: "Value", data: data.points.map((p, i) => ({x: xs[i], y: p.value})),
                 borderColor: "#1d4ed8", spanGaps: true, fill: false, pointRadius: 5,
                 pointBackgroundColor: data.points.map((p) => healthColour[p.health] || "#1d4ed8")});
  const chart = new Chart(canvas, {
    type: "line", data: {datasets: datasets},
    options: {animation: false, maintainAspectRatio: false, parsing: false,
              scales: {x: {type: "linear", ticks: {callback: dateLabel, maxTicksLimit: 6}},
                       y: {title: {display: !!data.unit, text: data.unit}}},
              plugins: {tooltip: {callbacks: {title: (items) => dateLabel(items[0].parsed.x)}}}},
  });
  canvas.dataset.bands = datasets.filter((d) => d.fill && d.fill !== false).map((d) => d.label).join(",");
  window.planerixCharts = window.planerixCharts || {};
  window.planerixCharts.kpi = chart;
}

// "Copy" buttons: the text of the field they name goes to the clipboard.
function copyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const field = document.getElementById(button.dataset.copy);
      try {
        await navigator.clipboard.writeText(field.value);
        button.textContent = "Copied";
      } catch (error) {  // no clipboard permission: select it for Ctrl+C
        field.select();
        button.textContent = "Press Ctrl+C to copy";
      }
    });
  }
}

// Live updates: poll the page's JSON twin with If-None-Match (a 304 costs nothing to render)
// and rewrite only what changed: progress bars, tracking badges, values, linked items' states,
// the chart. The page stays usable without it; a reload shows the same.
const TRACKING_CLASSES = ["on_track", "at_risk", "off_track", "achieved", "none"];

function setTracking(element, tracking) {
  element.classList.remove(...TRACKING_CLASSES);
  element.classList.add(tracking);
}

function applyState(state) {
  for (const [key, bar] of Object.entries(state.bars || {})) {
    for (const holder of document.querySelectorAll(`[data-live="${key}"]`)) {
      const progress = holder.querySelector("progress");
      progress.value = bar.value;
      progress.setAttribute("value", String(bar.value));
      progress.textContent = bar.text;
      holder.querySelector(".pct").textContent = bar.text;
      setTracking(holder, bar.tracking);
    }
    for (const badge of document.querySelectorAll(`[data-live-badge="${key}"]`)) {
      badge.textContent = bar.label;
      setTracking(badge, bar.tracking);
    }
  }
  for (const [name, text] of Object.entries(state.fields || {})) {
    for (const element of document.querySelectorAll(`[data-live-field="${name}"]`)) {
      if (element.textContent !== text) element.textContent = text;
    }
  }
  if (state.health) {
    for (const badge of document.querySelectorAll("[data-live-health]")) {
      badge.classList.remove("health-green", "health-yellow", "health-red", "health-none");
      badge.classList.add(`health-${state.health}`);
    }
  }
  for (const [name, rows] of Object.entries(state.tables || {})) {
    const body = document.querySelector(`[data-live-table="${name}"] tbody`);
    if (!body) continue;
    body.replaceChildren(...rows.map((cells) => {
      const row = document.createElement("tr");
      for (const text of cells) row.appendChild(document.createElement("td")).textContent = text;
      return row;
    }));
    const empty = document.querySelector(`[data-live-empty="${name}"]`);
    if (empty) empty.hidden = rows.length > 0;
  }
  const kpiChart = window.planerixCharts && window.planerixCharts.kpi;
  if (state.kpi_chart && kpiChart) {
    // Same datasets as drawKpi (bands, target, then the values): redraw them from the new points.
    kpiChart.destroy();
    document.getElementById("kpi-data").textContent = JSON.stringify(state.kpi_chart);
    drawKpi();
  }
  const chart = window.planerixCharts && window.planerixCharts.history;
  if (state.chart && chart) {
    const points = (rows) => rows.map((row) => ({x: Date.parse(row.t), y: row.value}));
    chart.data.datasets[0].data = points(state.chart.check_ins);
    chart.data.datasets[1].data = points(state.chart.pace);
    chart.update();
    document.getElementById("history-chart").dataset.checkIns = String(state.chart.check_ins.length);
  }
}

function pollLive() {
  const main = document.getElementById("main");
  const url = main && main.dataset.liveUrl;
  if (!url) return;
  const every = 1000 * Number(main.dataset.pollSeconds || 3);
  let etag = null;
  async function poll() {
    if (!document.hidden) {
      try {
        const response = await fetch(url, {cache: "no-store", credentials: "same-origin",
                                           headers: etag ? {"If-None-Match": etag} : {}});
        if (response.status === 200 && response.headers.get("Content-Type").startsWith("application/json")) {
          const state = await response.json();
          applyState(state);
          etag = response.headers.get("ETag");
        } else if (response.status !== 304) {
          return;  // signed out or gone: stop polling; a reload says why
        }
      } catch (error) {
        // offline for a moment: try again next time
      }
    }
    window.setTimeout(poll, every);
  }
  poll();
}

document.addEventListener("DOMContentLoaded", drawHistory);
document.addEventListener("DOMContentLoaded", pollLive);
document.addEventListener("DOMContentLoaded", copyButtons);
document.addEventListener("DOMContentLoaded", drawKpi);
