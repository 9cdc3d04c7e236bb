// The Mesh console: polls /console/api/overview every two seconds and redraws. No framework: the page is a few
// tables, and the silo serves it as three files.
"use strict";

const refreshMs = 2000;
const keyStore = "mesh-console-key";

const $ = id => document.getElementById(id);
const text = value => value === null || value === undefined ? "" : String(value);
const number = value => Number(value ?? 0).toLocaleString("en-US");
const fixed = (value, digits) => Number(value ?? 0).toFixed(digits);
const ago = at => {
  if (!at) return "never";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(at)) / 1000));
  return seconds < 120 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`;
};

function cell(value, options = {}) {
  const td = document.createElement("td");
  td.textContent = text(value);
  if (options.num) td.className = "num";
  if (options.test) td.dataset.test = options.test;
  if (options.cls) td.classList.add(options.cls);
  return td;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) tr.appendChild(c);
  return tr;
}

function fill(id, rows, empty) {
  const body = $(id);
  body.replaceChildren(...rows);
  if (rows.length === 0 && empty) {
    const td = cell(empty, { cls: "muted" });
    td.colSpan = body.closest("table").querySelectorAll("th").length;
    body.appendChild(row([td]));
  }
}

function headers() {
  const key = sessionStorage.getItem(keyStore);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function promote(model, version) {
  const response = await fetch(`/console/api/models/${encodeURIComponent(model)}/promote/${version}`, { method: "POST", headers: headers() });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    showError(body.error ?? `promote answered ${response.status}`);
  }
  await refresh();
}

function showError(message) {
  $("error").hidden = !message;
  $("error").textContent = message ?? "";
}

function render(o) {
  $("region").textContent = `region ${o.region}`;
  $("head").textContent = number(o.head);
  $("mode").textContent = o.admin ? "admin: actions on" : "read-only";
  $("updated").textContent = `updated ${new Date(o.at).toLocaleTimeString()}`;
  $("updated").dataset.at = o.at;

  fill("peers", o.peers.map(p => row([
    cell(p.name, { test: `peer-${p.name}` }),
    cell(number(p.shipped), { num: true, test: `peer-shipped-${p.name}` }),
    cell(number(p.behind), { num: true, test: `peer-behind-${p.name}` }),
    cell(ago(p.lastShippedAt)),
    cell(p.paused ? "paused" : p.lastError ? `failing: ${p.lastError}` : "up", { cls: p.lastError || p.paused ? "bad" : "ok", test: `peer-state-${p.name}` }),
  ])), "no peer regions");
  $("failovers").textContent = o.failovers.length === 0 ? "" :
    "Failovers taken over: " + o.failovers.map(f => `${number(f.predicts)} from ${f.from}`).join(", ");

  fill("traffic", o.traffic.map(t => row([
    cell(t.model),
    cell(number(t.requests), { num: true, test: `requests-${t.model}` }),
    cell(number(t.failures), { num: true, test: `failures-${t.model}` }),
    cell(fixed(t.requestsPerSecond, 1), { num: true, test: `rate-${t.model}` }),
    cell(fixed(t.p50Ms, 2), { num: true, test: `p50-${t.model}` }),
    cell(fixed(t.p99Ms, 2), { num: true, test: `p99-${t.model}` }),
    cell(number(t.coldStarts), { num: true, test: `cold-starts-${t.model}` }),
  ])), "no predicts yet");

  fill("silos", o.silos.map(s => row([
    cell(s.silo),
    cell(s.sessions.map(x => `${x.model} v${x.version}`).join(", ") || "none (scaled to zero)", { test: `sessions-${s.silo}` }),
    cell(s.models.map(m => `${m.model}: ${number(m.requests)} (${fixed(m.p50Ms, 2)} / ${fixed(m.p99Ms, 2)})`).join("; ")),
  ])));
  $("silos").dataset.sessions = String(o.silos.reduce((n, s) => n + s.sessions.length, 0));

  fill("models", o.models.map(m => {
    const versions = cell("");
    versions.dataset.test = `versions-${m.name}`;
    for (const v of m.versions) {
      const span = document.createElement("span");
      span.textContent = `v${v.version}${v.optimization ? ` (${v.optimization})` : ""}${v.retired ? " retired" : ""} `;
      versions.appendChild(span);
      if (o.admin && !v.retired && v.version !== m.defaultVersion) {
        const button = document.createElement("button");
        button.className = "promote";
        button.textContent = `promote v${v.version}`;
        button.dataset.test = `promote-${m.name}-${v.version}`;
        button.onclick = () => promote(m.name, v.version);
        versions.appendChild(button);
      }
    }
    const routing = (m.traffic ?? []).map(t => `v${t.version} ${t.percent}%`).join(", ");
    const shadow = m.shadowAgreement ? `shadow v${m.shadow}: ${m.shadowAgreement.text}` : "";
    const disagrees = m.shadowAgreement && m.shadowAgreement.agreement !== null && m.shadowAgreement.agreement < 1;
    return row([cell(m.name), cell(`v${m.defaultVersion}`, { test: `default-${m.name}` }), versions, cell(routing || "default"),
      cell(shadow || "-", { test: `shadow-${m.name}`, cls: disagrees ? "bad" : "" })]);
  }), "no models");

  fill("devices", o.devices.map(d => row([
    cell(d.id),
    cell(d.home),
    cell(d.models.join(", ")),
    cell(d.outboxDepth === null ? "?" : number(d.outboxDepth), { num: true, test: `outbox-${d.id}` }),
    cell(ago(d.lastSyncAt), { test: `last-sync-${d.id}` }),
    cell(number(d.results), { num: true, test: `results-${d.id}` }),
    cell(number(d.lost), { num: true }),
    cell(d.drifting.join(", "), { cls: d.drifting.length ? "bad" : "" }),
  ])), "no devices in this region");
  $("fleets").textContent = o.fleets.map(f => `${f.region}: ${number(f.devices)} device${f.devices === 1 ? "" : "s"}, ${number(f.results)} results, ${number(f.lost)} lost`).join(" · ");

  const alerts = o.drift.map(d => {
    const li = document.createElement("li");
    li.className = "bad";
    li.textContent = `${d.model} drifts on ${d.drifting} of ${d.devices} devices in ${d.region}`;
    return li;
  });
  if (alerts.length === 0) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = "no drift";
    alerts.push(li);
  }
  $("drift").replaceChildren(...alerts);
}

async function refresh() {
  try {
    const response = await fetch("/console/api/overview", { headers: headers(), cache: "no-store" });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      showError(body.error ?? `the overview answered ${response.status}`);
      return;
    }
    render(await response.json());
    showError(null);
  } catch (e) {
    showError(`the silo cannot be reached: ${e.message}`);
  }
}

$("key-form").addEventListener("submit", event => {
  event.preventDefault();
  const key = $("key").value.trim();
  if (key) sessionStorage.setItem(keyStore, key); else sessionStorage.removeItem(keyStore);
  $("key").value = "";
  refresh();
});

refresh();
setInterval(refresh, refreshMs);
