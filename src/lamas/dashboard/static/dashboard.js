// The dashboard's only script: the Live page's server-sent events, and filters that
// apply as soon as a choice is made. Everything else is rendered on the server.
"use strict";

function text(value) {
  const span = document.createElement("span");
  span.textContent = value;
  return span.innerHTML;
}

function liveRow(task) {
  const total = task.steps_total || 1;
  const value = task.currency ? `${Number(task.value).toFixed(2)} ${text(task.currency)}` : "-";
  return `<td><a href="/tasks/${encodeURIComponent(task.id)}">${text(task.id.slice(0, 12))}</a></td>` +
    `<td><span class="status ${text(task.status)}">${text(task.status)}</span></td>` +
    `<td class="instruction">${text(task.instruction)}</td>` +
    `<td><progress max="${total}" value="${task.steps_done}"></progress> ` +
    `${task.steps_done}/${task.steps_total || "?"}</td>` +
    `<td>${text(task.agents.join(", "))}</td>` +
    `<td class="num">${task.messages}</td><td class="num">${value}</td>`;
}

function startLive(table) {
  const body = table.querySelector("tbody");
  const state = document.getElementById("live-state");
  const source = new EventSource(`/events?after=${table.dataset.after}`);
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
