// The dashboard's only script: the Live page's server-sent events, and filters that
// apply as soon as a choice is made. Everything else is rendered on the server.
"use strict";

// Ledger text is untrusted: escaped for HTML text and for quoted attributes alike (a
// status with a quote in it once broke out of class="..."), numbers forced to numbers.
const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;" };

function text(value) {
  return String(value ?? "").replace(/[&<>"'`]/g, (c) => ESCAPES[c]);
}

function num(value) {
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
}

function liveRow(task) {
  const total = num(task.steps_total) || 1;
  const value = task.currency ? `${num(task.value).toFixed(2)} ${text(task.currency)}` : "-";
  const agents = Array.isArray(task.agents) ? task.agents.map(String).join(", ") : "";
  return `<td><a href="/tasks/${encodeURIComponent(task.id)}">${text(String(task.id).slice(0, 12))}</a></td>` +
    `<td><span class="status ${text(task.status)}">${text(task.status)}</span></td>` +
    `<td class="instruction">${text(task.instruction)}</td>` +
    `<td><progress max="${total}" value="${num(task.steps_done)}"></progress> ` +
    `${num(task.steps_done)}/${num(task.steps_total) || "?"}</td>` +
    `<td>${text(agents)}</td>` +
    `<td class="num">${num(task.messages)}</td><td class="num">${value}</td>`;
}

function startLive(table) {
  const body = table.querySelector("tbody");
  const state = document.getElementById("live-state");
  const source = new EventSource(`/events?after=${encodeURIComponent(table.dataset.after)}`);
  source.onopen = () => { state.textContent = "live"; state.className = "pulse on"; };
  source.onerror = () => { state.textContent = "reconnecting…"; state.className = "pulse"; };
  source.addEventListener("task", (event) => {
    const task = JSON.parse(event.data);
    let row = body.querySelector(`tr[data-task="${CSS.escape(task.id)}"]`);
    if (!row) {
      row = document.createElement("tr");
      row.dataset.task = task.id;
      body.prepend(row);
    }
    row.innerHTML = liveRow(task);
    row.classList.add("flash");
    setTimeout(() => row.classList.remove("flash"), 800);
    document.getElementById("head").textContent = event.lastEventId;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live-tasks");
  if (live) startLive(live);
  const status = document.getElementById("status");
  if (status) status.addEventListener("change", () => status.form.submit());
});
