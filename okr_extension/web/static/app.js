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

document.addEventListener("DOMContentLoaded", drawHistory);
