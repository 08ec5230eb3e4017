// The Provisioning page's script: it reads the page's JSON API (api/...) and draws the tables,
// the chart and the log; the filters offer the vocabulary the API serves.
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const get = async (url) => {
  const response = await fetch(url, {credentials: "same-origin"});
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
};
const total = (actions) => Object.entries(actions || {}).map(([kind, per]) =>
  Object.entries(per).map(([action, statuses]) =>
    `${kind === "user" ? "" : kind + " "}${action}: ` + (typeof statuses === "number" ? statuses :
      Object.entries(statuses).map(([s, n]) => `${n} ${s}`).join(", "))).join("; ")).join("; ");

async function loadVocabulary() {
  const words = await get("api/vocabulary");
  const fill = (name, values) => {
    const select = document.querySelector(`select[name=${name}]`);
    for (const value of values) select.add(new Option(value, value));
  };
  fill("action", words.actions);
  fill("status", words.statuses);
  fill("lifecycle", words.lifecycles);
}

async function loadConfigErrors() {
  const broken = await get("api/config-errors");
  document.getElementById("config-errors").hidden = broken.length === 0;
  document.getElementById("config-error-list").innerHTML = broken.map((b) =>
    `<div class="broken" data-app="${esc(b.app)}"><strong>${esc(b.app)}</strong> <span class="muted">${esc(b.file)}</span>` +
    `<pre>${esc(b.problems.map((p) => `${p.field || "<file>"}: ${p.message}`).join("\n"))}</pre></div>`).join("");
}

// a partitioned apply: each partition's actions done so far, live while the cycle runs
const partitions = (parts) => parts && parts.length ? `<div class="muted partitions">apply ` + parts.map((p) =>
  `#${p.partition + 1} <span class="status-${esc(p.status)}">${esc(p.status)}</span> ${p.succeeded + p.failed}/${p.attempted}`
).join(" · ") + `</div>` : "";

async function loadApps() {
  const apps = await get("api/apps");
  const body = document.querySelector("#apps tbody");
  const select = document.querySelector("select[name=app]");
  body.innerHTML = apps.map((a) => {
    const last = a.last_cycle;
    const state = `<span class="state-${a.state}">${a.state}</span>` +
      (a.quarantine_reason ? `<div class="muted">${esc(a.quarantine_reason)}; retry after ${esc(a.retry_at)}</div>` : "");
    return `<tr data-app="${esc(a.app)}"><td><a href="#" class="chart-link">${esc(a.app)}</a></td><td>${state}</td>
      <td>${last ? `<a target="_top" href="${esc(last.run_url)}">${esc(last.started_at)}</a> <span class="status-${esc(last.status)}">${esc(last.status)}</span>` + partitions(last.partitions) : "never run"}</td>
      <td>${last && last.duration_seconds != null ? last.duration_seconds.toFixed(1) + " s" : ""}</td>
      <td>${esc(last ? total(last.actions) : "")}</td><td>${a.in_escrow}</td><td>${a.staged}` +
      (a.hold ? `<div class="muted hold">held by cycle ${esc(a.hold.cycle_id)}: ${esc(a.hold.reason)}. ` +
        `Approve with <code>approve=${esc(a.hold.cycle_id)}</code></div>` : "") +
      `</td><td>${a.linked}</td></tr>`;
  }).join("");
  for (const a of apps) if (![...select.options].some((o) => o.value === a.app)) select.add(new Option(a.app, a.app));
  body.querySelectorAll(".chart-link").forEach((link) => link.addEventListener("click", (e) => {
    e.preventDefault(); loadChart(link.closest("tr").dataset.app);
  }));
  // the first app that has run: an app installed but never run has no cycles to chart
  if (apps.length) loadChart((apps.find((a) => a.last_cycle) || apps[0]).app);
}

async function loadChart(app) {
  const cycles = await get(`api/cycles?app=${encodeURIComponent(app)}&limit=60`);
  document.getElementById("chart-app").textContent = `(${app}, last ${cycles.length} cycles)`;
  const svg = document.getElementById("chart"), W = 900, H = 180, pad = 24;
  const max = Math.max(1, ...cycles.map((c) => c.succeeded + c.failed + c.staged));
  const width = (W - 2 * pad) / Math.max(cycles.length, 1);
  const bar = (x, y, h, color, title) => `<rect x="${x}" y="${y}" width="${Math.max(width - 2, 1)}" height="${h}" fill="${color}"><title>${esc(title)}</title></rect>`;
  svg.innerHTML = cycles.map((c, i) => {
    const x = pad + i * width, scale = (n) => (n / max) * (H - 2 * pad);
    const ok = scale(c.succeeded), bad = scale(c.failed), held = scale(c.staged);
    const title = `${c.cycle_id}: ${c.succeeded} succeeded, ${c.failed} failed, ${c.staged} staged (${c.status})`;
    return `<a href="${esc(c.run_url)}" target="_top">` +
      bar(x, H - pad - ok, ok, "#2da44e", title) + bar(x, H - pad - ok - bad, bad, "#cf222e", title) +
      bar(x, H - pad - ok - bad - held, held, "#bf8700", title) + "</a>";
  }).join("") + `<text x="${pad}" y="14" font-size="11" fill="#57606a">max ${max} actions · green succeeded · red failed · amber staged</text>`;
}

let cursors = [null];
function query(extra = {}) {
  const data = new FormData(document.getElementById("filters"));
  const params = new URLSearchParams();
  for (const [k, v] of data) if (v) params.set(k, (k === "since" || k === "until") ? v + ":00Z" : v);
  for (const [k, v] of Object.entries(extra)) if (v != null) params.set(k, v);
  return params;
}
async function loadLog(beforeId = null) {
  const params = query({before_id: beforeId});
  document.getElementById("csv").href = "api/log.csv?" + query().toString();
  const page = await get("api/log?" + params.toString());
  const body = document.querySelector("#log tbody");
  body.innerHTML = page.rows.map((r) => `<tr class="entry" data-id="${r.id}">
      <td>${esc(r.time)}</td><td>${esc(r.app)}</td><td>${esc(r.source_display || r.source_id)}</td><td>${esc(r.action)}${r.lifecycle ? ` <span class="muted">(${esc(r.lifecycle)})</span>` : ""}</td>
      <td class="status-${esc(r.status)}">${esc(r.status)}</td><td>${esc(r.error_code)}</td>
      <td>${r.run_url ? `<a target="_top" href="${esc(r.run_url)}">${esc(r.cycle_id)}</a>` : esc(r.cycle_id)}</td></tr>
    <tr class="detail" hidden><td colspan="7">${esc([
      `directory id: ${r.source_id}    app id: ${r.target_id ?? "-"}`,
      Array.isArray(r.modified_properties) && r.modified_properties.length ? "modified properties:\n" +
        r.modified_properties.map((m) => `  ${m.path}: ${JSON.stringify(m.old)} -> ${JSON.stringify(m.new)}`).join("\n") :
        r.modified_properties ? "modified properties: " + JSON.stringify(r.modified_properties) : "",
      r.detail ? "detail: " + r.detail : "", r.error_message ? "error: " + r.error_message : ""].filter(Boolean).join("\n"))}</td></tr>`).join("");
  body.querySelectorAll("tr.entry").forEach((row) => row.addEventListener("click", () => {
    row.nextElementSibling.hidden = !row.nextElementSibling.hidden;
  }));
  document.getElementById("log-info").textContent = page.rows.length ? `${page.rows.length} entries` : "no entries";
  const older = document.getElementById("older");
  older.disabled = page.next_before_id == null;
  older.onclick = () => { cursors.push(page.next_before_id); loadLog(page.next_before_id); };
  const newer = document.getElementById("newer");
  newer.disabled = beforeId == null;
  newer.onclick = () => { cursors = [null]; loadLog(null); };
}
document.getElementById("filters").addEventListener("submit", (e) => { e.preventDefault(); cursors = [null]; loadLog(); });
loadVocabulary().catch((e) => alert(e));
loadConfigErrors().catch((e) => alert(e));
loadApps().catch((e) => alert(e)); loadLog().catch((e) => alert(e));
