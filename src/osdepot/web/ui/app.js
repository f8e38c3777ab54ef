// osdepot web interface: one page, plain JavaScript, the same REST API as every client.
// No build step, nothing loaded from elsewhere. Text from the server is always set with
// textContent (file names and messages are user data), never as HTML.

// The groups, types, OS families and checksums come from the server's own definitions.
import { GROUPS, TYPES, OSES, CHECKSUMS, OS_REQUIRED, FOLLOW_STALL_SECONDS } from "./vocabulary.js";

const TERMINAL = new Set(["Complete", "Stopped", "Cancelled"]);

// -- small helpers ------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function bytes(n) {
  if (n === null || n === undefined || n === "") return "";
  n = Number(n);
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return i === 0 ? `${n} bytes` : `${n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
}

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

function duration(seconds) {
  if (!isFinite(seconds) || seconds < 0) return "–";
  seconds = Math.round(seconds);
  const m = Math.floor(seconds / 60), s = seconds % 60;
  return m >= 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m}:${String(s).padStart(2, "0")}`;
}

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return "";
}

function options(pairs, selected) {
  return pairs.map(([v, t]) => h("option", { value: v, selected: v === selected }, t));
}

function field(id, label, input, hint) {
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input,
    hint ? h("p", { class: "hint", id: id + "-hint" }, hint) : null);
}

class ApiError extends Error {
  constructor(status, body) {
    const msgs = (body && body.messages) || [];
    super(msgs.length ? msgs.map((m) => m.text).join(" ") : `HTTP ${status}`);
    this.status = status;
    this.messages = msgs;
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json", "X-Requested-With": "XMLHttpRequest" };
  if (method !== "GET") headers["X-Csrf-Token"] = cookie("csrf");
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  let data = null;
  try { data = await resp.json(); } catch { data = null; }
  if (resp.status === 401 && path !== "/sessions" && state.user) {
    state.user = "";
    showLogin("Your session has ended. Log in again.");
    throw new ApiError(401, data);
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

// -- notices ------------------------------------------------------------------------------

const notice = () => document.getElementById("notice");

// The REST API's advice speaks of requests, parameters and endpoints; on this page the
// same advice names the form's fields and the page's sections (the message id stays).
const FIELD_NAMES = { os: "Operating system", imageName: "Name", imageType: "Image type",
  checksumType: "Checksum type", checksumValue: "Checksum", displayName: "Display name" };
const UI_PHRASES = [
  [/Create a new import job with POST \/osImages and (use its job ID|upload the file promptly)\./g, "Start the import again."],
  [/Create a new import job and upload the file again\./g, "Start the import again."],
  [/Correct the request and send it again\./g, "Correct the form and try again."],
  [/\(GET \/osImages lists the repository\)/g, "(the Repository page lists it)"],
  [/\(GET \/osImages\/remoteFileServers lists them\)/g, "(the Remote file servers page lists them)"],
  [/Register the server with POST \/osImages\/remoteFileServers/g, "Add the server on the Remote file servers page"],
  [/Files are imported with POST \/files\/osImages\./g, "Files are imported on the Import page."],
  [/List the jobs with GET \/tasks/g, "See the Tasks page"],
  [/Cancel the job first \(PUT \/tasks\)/g, "Cancel the job first (on the Tasks page)"],
  [/Log in (again )?with POST \/sessions(, or send HTTP Basic credentials)?\./g, "Log in again."],
  [/The required parameter (\w+) is missing\./g, (_, n) => `${FIELD_NAMES[n] || n} is required.`],
  [/Repeat the request with the parameter (\w+)\./g, (_, n) => `Fill in ${FIELD_NAMES[n] || n} and try again.`],
  [/\bwhen imageType is (\w+)/g, "for this image type"],
  [/\b[Tt]he parameter (\w+)/g, (_, n) => FIELD_NAMES[n] || n],
];

function uiWords(text) {
  let t = String(text || "");
  for (const [re, to] of UI_PHRASES) t = t.replace(re, to);
  return t;
}

function messageBlock(messages, fallback) {
  if (!messages || !messages.length) return fallback ? [h("p", {}, fallback)] : [];
  return messages.map((m) => h("div", {},
    h("p", {}, h("strong", {}, uiWords(m.text)), m.id ? ` (${m.id})` : ""),
    m.explanation ? h("p", {}, uiWords(m.explanation)) : null,
    m.recovery && m.recovery.text ? h("p", {}, uiWords(m.recovery.text)) : null));
}

// A long hash, shortened so that it never wraps mid-string; the whole value on hover,
// copied on click.
function hashView(label, value) {
  if (!value) return "";
  const short = value.length > 16 ? `${value.slice(0, 12)}…${value.slice(-4)}` : value;
  return h("button", { type: "button", class: "hash-copy", title: `${label}: ${value} (click to copy)`,
    "aria-label": `Copy the ${label} value ${value}`,
    onclick: async (ev) => {
      try { await navigator.clipboard.writeText(value); ev.target.dataset.copied = "1"; say(`${label} copied.`); }
      catch { say(`${label}: ${value}`); }
    } }, `${label}: ${short}`);
}

function say(text) {
  notice().replaceChildren(h("div", { class: "msg-ok" }, text));
}

function fail(err, what) {
  const box = h("div", { class: "msg-error", role: "alert" },
    h("p", {}, h("strong", {}, what)), ...messageBlock(err.messages, err.message));
  notice().replaceChildren(box);
}

function clearNotice() { notice().replaceChildren(); }

// -- state and routing --------------------------------------------------------------------

const state = { user: sessionStorage.getItem("osdepot.user") || "", timer: null, uploading: null, seq: 0 };

// Each navigation gets a number; a view whose data arrives after the user has moved on
// does not draw over the newer one.
const stale = (seq) => seq !== state.seq;

function main() { return document.getElementById("main"); }

function setView(title, ...content) {
  document.title = `${title} — osdepot`;
  main().replaceChildren(h("h1", {}, title), ...content);
}

// A view's data, or null when it failed (the reason is shown) or arrived after the
// user had moved on to another view.
async function load(path, what) {
  const seq = state.seq;
  try {
    const data = await api("GET", path);
    return stale(seq) ? null : data;
  } catch (e) {
    if (e.status !== 401) fail(e, `${what} could not be listed.`);
    return null;
  }
}

function route() {
  state.seq++;
  if (state.timer) { clearInterval(state.timer); state.timer = null; }
  if (!state.user) return showLogin();
  const view = (location.hash.replace(/^#\//, "") || "repository").split("/")[0];
  for (const a of document.querySelectorAll(".top nav a")) {
    if (a.dataset.view === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const views = { repository: showRepository, import: showImport, tasks: showTasks,
    servers: showServers, deploy: showDeploy };
  (views[view] || showRepository)();
}

function go(view) {
  if (location.hash === `#/${view}`) route();
  else location.hash = `#/${view}`;
}

// -- login --------------------------------------------------------------------------------

function showLogin(message) {
  document.getElementById("top").hidden = true;
  sessionStorage.removeItem("osdepot.user");
  const user = h("input", { type: "text", name: "username", autocomplete: "username", required: true });
  const pw = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const err = h("div", { role: "alert" });
  if (message) err.replaceChildren(h("div", { class: "error card" }, message));
  const form = h("form", { class: "card login", onsubmit: async (ev) => {
    ev.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const r = await api("POST", "/sessions", { UserId: user.value, password: pw.value });
      state.user = (r.response && r.response.session && r.response.session.UserId) || user.value;
      sessionStorage.setItem("osdepot.user", state.user);
      clearNotice();
      startApp();
    } catch (e) {
      err.replaceChildren(h("div", { class: "error card" }, ...messageBlock(e.messages, e.message)));
      pw.value = "";
      pw.focus();
    } finally { button.disabled = false; }
  } },
    h("h1", {}, "Log in to osdepot"),
    h("p", { class: "lead" }, "The OS-images repository."),
    field("login-user", "User name", user),
    field("login-password", "Password", pw),
    err,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Log in")));
  document.title = "Log in — osdepot";
  main().replaceChildren(form);
  user.focus();
}

function startApp() {
  document.getElementById("top").hidden = false;
  document.getElementById("who").textContent = state.user;
  if (!location.hash) location.hash = "#/repository";
  else route();
}

async function logout() {
  try { await api("DELETE", "/sessions"); } catch { /* the session may be gone already */ }
  state.user = "";
  if (state.uploading) state.uploading.abort();
  clearNotice();
  history.replaceState(null, "", "/");
  showLogin("You have logged out.");
}

// -- repository ---------------------------------------------------------------------------

function confirmDelete(what) {
  const dlg = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent =
    `Delete ${what}? This cannot be undone.`;
  dlg.returnValue = "";
  dlg.showModal();
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
  });
}

async function remove(id, label) {
  if (!(await confirmDelete(label))) return;
  try {
    await api("DELETE", `/osImages/${encodeURIComponent(id)}`);
    say(`Deleted ${label}.`);
    showRepository();
  } catch (e) { fail(e, `${label} was not deleted.`); }
}

function table(headers, rows) {
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows)));
}

function checksumCell(f) {
  const sums = f.checksums && Object.keys(f.checksums).length ? f.checksums : { sha256: f.sha256 };
  return h("td", { class: "hash" }, Object.entries(sums).map(([k, v]) =>
    h("div", {}, hashView(k.toUpperCase(), v))));
}

// Rows of the repository whose text holds every word of the filter.
function applyFilter(root, text) {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  for (const row of root.querySelectorAll("tbody tr")) {
    const hay = row.textContent.toLowerCase() + " " + (row.dataset.search || "");
    row.hidden = !words.every((w) => hay.includes(w));
  }
}

// A signed link (no login needed: for installers and BMCs), copied to the clipboard.
async function copyLink(path, what) {
  try {
    const link = await api("POST", path, {});
    try { await navigator.clipboard.writeText(link.url); say(`Link to ${what} copied (valid until ${when(link.expires)}): ${link.url}`); }
    catch { say(`Link to ${what} (valid until ${when(link.expires)}): ${link.url}`); }
  } catch (e) { fail(e, `No link to ${what} was made.`); }
}

function fileActions(f) {
  const enc = encodeURIComponent(f.id);
  return h("div", { class: "actions" },
    h("a", { class: "button small secondary", href: `/files/osImages/${enc}`, download: f.name,
      "aria-label": `Download ${f.name}` }, "Download"),
    h("button", { type: "button", class: "secondary small", "aria-label": `Copy a link to ${f.name}`,
      onclick: () => copyLink(`/files/osImages/${enc}/links`, f.name) }, "Copy link"),
    h("button", { type: "button", class: "danger small",
      "aria-label": `Delete ${f.id}`, onclick: () => remove(f.id, `file ${f.name}`) }, "Delete"));
}

function imageActions(img) {
  const enc = encodeURIComponent(img.id);
  return h("div", { class: "actions" },
    h("a", { class: "button small secondary", href: `/osImages/${enc}/tree/`, target: "_blank",
      rel: "noopener", "aria-label": `Browse the installation tree of ${img.id}` }, "Browse"),
    h("button", { type: "button", class: "secondary small",
      "aria-label": `Copy a link to the installation tree of ${img.id}`,
      onclick: () => copyLink(`/osImages/${enc}/links`, `the installation tree of ${img.id}`) }, "Copy tree link"),
    img.fileId ? h("a", { class: "button small secondary", href: `/files/osImages/${encodeURIComponent(img.fileId)}`,
      download: img.fileName || img.fileId, "aria-label": `Download the ISO of ${img.id}` }, "Download ISO") : null,
    img.fileId ? h("button", { type: "button", class: "secondary small", "aria-label": `Copy a link to the ISO of ${img.id}`,
      onclick: () => copyLink(`/files/osImages/${encodeURIComponent(img.fileId)}/links`, `the ISO of ${img.id}`) }, "Copy ISO link") : null,
    h("button", { type: "button", class: "danger small",
      "aria-label": `Delete OS image ${img.id}`, onclick: () => remove(img.id, `OS image ${img.id}`) }, "Delete"));
}

// A profile in the image's list; a customised one can be exported (a job), and its
// archive downloaded when the job is complete.
function profileItem(p) {
  if (p.type !== "custom") return h("li", { title: p.id }, p.name || p.profile);
  const out = h("span", { class: "hint", role: "status" });
  const start = async () => {
    try {
      const r = await api("GET", `/osImages/${encodeURIComponent(p.id)}`);
      const job = await followJob(r.jobId, (j) => out.replaceChildren(` export: ${j.status}`));
      if (job.status !== "Complete") { out.replaceChildren(jobSummary(job)); return; }
      const a = h("a", { href: `/files/osImages/${encodeURIComponent(job.fileId)}`, download: "" },
        "Download the archive");
      out.replaceChildren(" exported: ", a);
    } catch (e) { fail(e, `Profile ${p.name} was not exported.`); }
  };
  return h("li", { title: p.id }, p.name, h("span", { class: "hint" }, " (customised)"), " ",
    h("button", { type: "button", class: "secondary small", "aria-label": `Export profile ${p.name}`,
      onclick: start }, "Export"), out);
}

async function storageLine() {
  try {
    const a = await api("GET", "/aicc");
    const s = a.storage;
    if (!s) return null;
    const free = s.freeBytes === null ? "" : `, ${bytes(s.freeBytes)} free`;
    return h("p", { class: "hint storage" },
      `${s.files} file(s), ${s.images} OS image(s): ${bytes(s.usedBytes)} stored${free}.`);
  } catch { return null; }
}

async function showRepository() {
  const seq = state.seq;
  const [data, storage] = await Promise.all([load("/osImages", "The repository"), storageLine()]);
  if (!data || stale(seq)) return;
  const images = data.items || [];
  const parts = [];
  parts.push(h("h2", {}, `OS images (${images.length})`));
  if (!images.length) {
    parts.push(h("div", { class: "empty" }, "No OS images yet. ",
      h("a", { href: "#/import" }, "Import an installation medium"), " to get started."));
  } else {
    parts.push(table(["Image", "Release", "Profiles", "Size", "Checksum", "Imported", ""],
      images.map((img) => h("tr", { "data-search": img.profiles.map((p) => p.id).join(" ") },
        h("td", {}, h("strong", {}, img.name), h("div", { class: "mono" }, img.id),
          img.fileName ? h("div", { class: "hint" }, img.fileName) : null),
        h("td", {}, [img.version, img.arch].filter(Boolean).join(" · ")),
        h("td", {}, h("details", {}, h("summary", {}, `${img.profiles.length} profile(s)`),
          h("ul", { class: "plain" }, img.profiles.map(profileItem)))),
        h("td", { class: "num" }, bytes(img.size)),
        h("td", { class: "hash" }, hashView("SHA256", img.sha256)),
        h("td", {}, img.importedBy, h("div", { class: "hint" }, when(img.importedAt))),
        h("td", {}, imageActions(img))))));
  }
  const empty = [];
  for (const [key, title] of GROUPS) {
    const files = data[key] || [];
    if (!files.length) { empty.push(title.charAt(0).toLowerCase() + title.slice(1)); continue; }
    parts.push(h("h2", {}, `${title} (${files.length})`));
    parts.push(table(["File", "OS", "Size", "Checksum", "Imported", ""],
      files.map((f) => h("tr", {},
        h("td", {}, h("strong", {}, f.name), h("div", { class: "mono" }, f.id),
          f.description ? h("div", { class: "hint" }, f.description) : null),
        h("td", {}, [f.os, f.osrelease].filter(Boolean).join(" ")),
        h("td", { class: "num" }, bytes(f.size)),
        checksumCell(f),
        h("td", {}, f.importedBy, h("div", { class: "hint" }, when(f.importedAt))),
        h("td", {}, fileActions(f))))));
  }
  if (empty.length) parts.push(h("p", { class: "hint empty-groups" }, `No ${empty.join(", ")}.`));
  const body = h("div", {}, ...parts);
  const filter = h("input", { type: "search", id: "repo-filter", placeholder: "Filter by name, id, release, checksum…",
    oninput: () => applyFilter(body, filter.value) });
  setView("Repository", h("p", { class: "lead" },
    "Installation media with their profiles, and the files that go with them."), storage,
    h("div", { class: "field filter" }, h("label", { for: "repo-filter" }, "Filter"), filter), body);
}

// -- jobs ---------------------------------------------------------------------------------

// A followed job that shows no change (status, bytes, percentage) for this long is left
// to run on the server; the page says so and stops polling.
const FOLLOW_STALL_MS = FOLLOW_STALL_SECONDS * 1000;

async function followJob(jobId, render, stallMs = FOLLOW_STALL_MS) {
  // Poll the job until it ends; render(job) after each answer. Returns the last job,
  // with gaveUp set when it stopped changing for stallMs.
  let seen = "";
  let changed = performance.now();
  for (;;) {
    const [job] = await api("GET", `/tasks/${jobId}?compact=true`);
    render(job);
    if (TERMINAL.has(job.status)) return job;
    const now = performance.now();
    const key = `${job.status}/${job.bytesReceived}/${job.percentage}`;
    if (key !== seen) { seen = key; changed = now; }
    else if (now - changed > stallMs) return { ...job, gaveUp: true };
    await new Promise((r) => setTimeout(r, 700));
  }
}

// A job that will never get its file (its upload was refused before the job took it)
// is cancelled and removed, so that it neither waits for a file nor shows as
// "Cancelled" without a reason.
async function dropJob(id) {
  try {
    await api("PUT", "/tasks", { action: "cancel", list: [String(id)] });
    await api("DELETE", `/tasks/${id}`);
  } catch { /* best effort: the refusal is what the user needs to see */ }
}

function jobSummary(job, withMessages = true) {
  const tone = job.status === "Complete" ? "msg-ok" : TERMINAL.has(job.status) ? "msg-error" : "msg-busy";
  const box = h("div", { class: `job-summary ${tone}`,
    role: TERMINAL.has(job.status) && job.status !== "Complete" ? "alert" : null });
  box.append(h("p", {}, "Job ", job.id, ": ", h("span", { class: `status-${job.status}` }, job.status),
    job.status === "Running" ? ` (${job.percentage} %)` : ""));
  if (withMessages) box.append(...messageBlock(job.messages, ""));
  return box;
}

async function cancelJob(id) {
  try {
    await api("PUT", "/tasks", { action: "cancel", list: [String(id)] });
    say(`Job ${id} cancelled.`);
  } catch (e) { fail(e, `Job ${id} was not cancelled.`); }
}

// -- import -------------------------------------------------------------------------------

function importControls(prefix) {
  const type = h("select", { name: "type" }, options(TYPES, "OS"));
  const os = h("select", { name: "os" }, options(OSES, ""));
  const name = h("input", { type: "text", name: "name", maxlength: 255 });
  const ctype = h("select", { name: "checksumType" }, options(CHECKSUMS, ""));
  const cvalue = h("input", { type: "text", name: "checksumValue", spellcheck: "false", autocomplete: "off" });
  const fields = h("div", { class: "grid" },
    field(`${prefix}-type`, "Image type", type),
    field(`${prefix}-os`, "Operating system", os, "Required for drivers, scripts, software, unattend and configuration files."),
    field(`${prefix}-name`, "Name (optional)", name, "For a driver: the OS image it belongs to."),
    field(`${prefix}-ctype`, "Checksum type", ctype),
    field(`${prefix}-cvalue`, "Checksum (optional)", cvalue, "Hexadecimal; the import fails if the file does not match."));
  return { type, os, name, ctype, cvalue, fields };
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  return q.toString();
}

async function createJob(type, size) {
  const body = { Action: "Init" };
  if (size !== undefined) body.fileSize = size;
  const r = await api("POST", `/osImages?${query({ imageType: type })}`, body);
  return r.jobId;
}

// Uploads go through tus-js-client (ui/tus.min.js, vendored): a resumable upload
// (POST /files/osImages/uploads, then PATCH) that rides out a dropped connection by
// itself (it asks the server for the offset and goes on from there), and that a page
// reload continues: the upload's URL and job are kept in the browser's storage under
// the file's name, size and date, and picking the same file again resumes it.
const RETRY_MS = [0, 1000, 3000, 5000, 10000, 20000, 30000];

function fingerprint(file) {
  return Promise.resolve(["osdepot", file.name, file.type, file.size, file.lastModified].join("/"));
}

// A previous upload of this file that the server still holds: {upload, jobId}, or null
// (stale entries are forgotten).
async function previousUpload(file) {
  const probe = new window.tus.Upload(file, { endpoint: "/files/osImages/uploads", fingerprint });
  let found = [];
  try { found = await probe.findPreviousUploads(); } catch { return null; }
  for (const prev of found) {
    const jobId = prev.metadata && prev.metadata.jobId;
    if (!jobId || !prev.uploadUrl) continue;
    try {
      const r = await fetch(prev.uploadUrl, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0" } });
      if (r.ok) return { upload: prev, jobId, offset: Number(r.headers.get("Upload-Offset")) };
    } catch { /* unreachable now: try a new upload */ }
    try { await probe._urlStorage.removeUpload(prev.urlStorageKey); } catch { /* gone */ }
  }
  return null;
}

function parseBody(res) {
  try { return JSON.parse(res.getBody()); } catch { return null; }
}

// Resolves {status, body} with the server's last answer (the import's outcome), or
// {aborted: true}. onNote tells of a retry after a lost connection.
function upload(file, { query, jobId, checksum, previous }, onProgress, onNote) {
  return new Promise((resolve) => {
    const metadata = { filename: file.name, jobId: String(jobId) };
    if (checksum) { metadata.checksumType = checksum[0]; metadata.checksumValue = checksum[1]; }
    let settled = false;
    const end = (v) => { if (!settled) { settled = true; state.uploading = null; resolve(v); } };
    const up = new window.tus.Upload(file, {
      endpoint: `/files/osImages/uploads?${query}`,
      fingerprint,
      metadata,
      retryDelays: RETRY_MS,
      removeFingerprintOnSuccess: true,
      headers: { "X-Csrf-Token": cookie("csrf"), Accept: "application/json", "X-Requested-With": "XMLHttpRequest" },
      onProgress,
      onShouldRetry(err, attempt) {
        const res = err.originalResponse;
        // The import itself ended (a refused file, a wrong checksum): told, not retried.
        if (res && (res.getHeader("Osdepot-Job-Status") || res.getStatus() === 404)) return false;
        const status = res ? res.getStatus() : 0;
        const again = !res || status >= 500 || status === 409 || status === 423;
        if (again) onNote(`Connection lost; trying again (${attempt + 1} of ${RETRY_MS.length})…`);
        return again;
      },
      onSuccess(payload) {
        const res = payload.lastResponse;
        end({ status: res.getStatus(), body: parseBody(res) });
      },
      onError(err) {
        const res = err.originalResponse;
        end({ status: res ? res.getStatus() : 0, body: res ? parseBody(res) : null,
          message: String(err.message || err) });
      },
    });
    state.uploading = { abort: () => { up.abort(); end({ aborted: true }); } };
    if (previous) up.resumeFromPreviousUpload(previous);
    up.start();
  });
}

function showImport() {
  const c = importControls("imp");
  const file = h("input", { type: "file", name: "file", "aria-describedby": "imp-chosen" });
  const chosen = h("p", { class: "hint", id: "imp-chosen", "aria-live": "polite" }, "No file chosen.");
  const drop = h("div", { class: "drop" },
    h("label", { for: "imp-file" }, "File"),
    h("p", { class: "hint" }, "Drop a file here, or choose one."), file, chosen);
  file.id = "imp-file";
  let picked = null;
  const pick = (f) => {
    picked = f;
    chosen.textContent = f ? `${f.name} — ${bytes(f.size)}` : "No file chosen.";
    if (f && /\.iso$/i.test(f.name) && c.type.value !== "DUD") c.type.value = "OS";
  };
  file.addEventListener("change", () => pick(file.files[0] || null));
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    drop.classList.remove("over");
    if (!ev.dataTransfer.files.length) return;
    try { file.files = ev.dataTransfer.files; } catch { /* older browsers: keep it aside */ }
    pick(ev.dataTransfer.files[0]);
  });
  const bar = h("progress", { max: 100, value: 0, "aria-label": "Upload progress" });
  const text = h("p", { class: "progress-text", "aria-live": "polite" });
  const result = h("div", { id: "import-result" });
  const progress = h("div", { class: "card", hidden: true }, h("h2", {}, "Progress"), bar, text, result);
  const submit = h("button", { type: "submit" }, "Import");
  const cancel = h("button", { type: "button", class: "secondary", hidden: true }, "Cancel import");
  let jobId = null;
  cancel.addEventListener("click", async () => {
    if (state.uploading) state.uploading.abort();
    if (jobId) await cancelJob(jobId);
  });
  const form = h("form", { class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    clearNotice();
    if (!picked) { fail(new ApiError(0, null), "Choose a file to import."); file.focus(); return; }
    if (OS_REQUIRED.includes(c.type.value) && !c.os.value) {
      const label = (TYPES.find(([v]) => v === c.type.value) || ["", c.type.value])[1];
      fail(new ApiError(0, null), `Choose the operating system: a ${label} is imported for one.`);
      c.os.focus();
      return;
    }
    submit.disabled = true;
    cancel.hidden = false;
    progress.hidden = false;
    result.replaceChildren();
    bar.value = 0;
    text.textContent = "Creating the import job…";
    try {
      const previous = await previousUpload(picked);
      let from = 0;
      if (previous) {
        jobId = previous.jobId;
        from = previous.offset;
        say(`Resuming the upload of ${picked.name} (job ${jobId}) from ${bytes(from)}.`);
      } else {
        jobId = await createJob(c.type.value, picked.size);
      }
      const checksum = c.ctype.value && c.cvalue.value.trim() ? [c.ctype.value, c.cvalue.value.trim()] : null;
      const started = performance.now();
      const q = query({ jobId, imageType: c.type.value, os: c.os.value, imageName: c.name.value.trim() });
      const r = await upload(picked, { query: q, jobId, checksum, previous: previous && previous.upload },
        (loaded, total) => {
          const secs = (performance.now() - started) / 1000;
          const rate = secs > 0 ? Math.max(loaded - from, 0) / secs : 0;
          bar.value = total ? (loaded * 100) / total : 0;
          text.textContent = `${bytes(loaded)} of ${bytes(total)} · ${bytes(rate)}/s · ` +
            `${duration(rate ? (total - loaded) / rate : Infinity)} left`;
        },
        (note) => { text.textContent = note; });
      if (r.aborted) {
        text.textContent = "Upload stopped.";
      } else if (r.status === 0) {
        // The server stayed out of reach: the upload waits on the server for the same
        // file to be chosen again (even after a reload), and goes on from where it was.
        text.textContent = "";
        fail({ messages: [], message: r.message || "no connection" },
          `The connection was lost while ${picked.name} was sent. Choose the same file and import again to resume where it stopped.`);
        return;
      } else if (r.status >= 400) {
        // Refused: shown once, at once. A job refused before it took the file (a
        // missing field, a wrong type) is dropped; the form keeps its values.
        text.textContent = "";
        const [job] = await api("GET", `/tasks/${jobId}?compact=true`);
        // The job's state stays in view; its message is the notice below, once.
        if (TERMINAL.has(job.status)) result.replaceChildren(jobSummary(job, false));
        else { result.replaceChildren(); await dropJob(jobId); }
        fail({ messages: (r.body && r.body.messages) || job.messages || [], message: `HTTP ${r.status}` },
          `The import of ${picked.name} was refused. Correct the form and import again.`);
        return;
      } else {
        text.textContent = "Upload finished; checking the file…";
      }
      const job = await followJob(jobId, (j) => result.replaceChildren(jobSummary(j)));
      if (job.status === "Complete") {
        bar.value = 100;
        text.textContent = `Imported ${picked.name}.`;
        say(`Imported ${picked.name}` + (r.body && r.body.imageId ? ` as OS image ${r.body.imageId}.` : "."));
      } else if (job.gaveUp) {
        text.textContent = "";
        fail({ messages: [], message: `Job ${jobId} has shown no progress for ${FOLLOW_STALL_MS / 1000} s; it goes on on the server. Follow or cancel it on the Tasks page.` },
          `Stopped following the import of ${picked.name}.`);
      } else {
        text.textContent = "";
        result.replaceChildren(jobSummary(job, false));
        fail({ messages: job.messages.length ? job.messages : (r.body && r.body.messages) || [], message: job.status },
          `The import of ${picked.name} did not complete (${job.status}).`);
      }
    } catch (e) {
      if (e.status !== 401) fail(e, `The import of ${picked.name} did not start.`);
    } finally {
      submit.disabled = false;
      cancel.hidden = true;
      jobId = null;
    }
  } }, drop, c.fields, h("div", { class: "actions" }, submit, cancel));
  setView("Import a file", h("p", { class: "lead" },
    "Upload an installation medium, a driver or any file that goes with one. ",
    "The file is checked by its content and checksummed before it is stored."), form, progress);
}

// -- tasks --------------------------------------------------------------------------------

async function showTasks() {
  const holder = h("div", {}, h("p", {}, "Loading…"));
  setView("Tasks", h("p", { class: "lead" }, "Import jobs, newest first. This list refreshes itself."), holder);
  const seq = state.seq;
  const refresh = async () => {
    if (stale(seq)) return;
    let jobs;
    try { jobs = await api("GET", "/tasks?compact=true"); } catch (e) {
      if (e.status !== 401) fail(e, "The tasks could not be listed.");
      if (state.timer) { clearInterval(state.timer); state.timer = null; }
      return;
    }
    if (stale(seq)) return;
    jobs.sort((a, b) => Number(b.id) - Number(a.id));
    if (!jobs.length) {
      holder.replaceChildren(h("div", { class: "empty" }, "No import jobs. ",
        h("a", { href: "#/import" }, "Import a file"), " and its job shows here."));
      return;
    }
    holder.replaceChildren(table(["Job", "File", "Status", "Progress", "By", "Started", "Ended", "Message", ""],
      jobs.map((j) => h("tr", { "data-job": j.id },
        h("td", { class: "num" }, j.id),
        h("td", {}, j.fileName || h("span", { class: "hint" }, "(no file yet)"), h("div", { class: "hint" }, j.imageType)),
        h("td", {}, h("span", { class: `status-${j.status}` }, j.status)),
        h("td", {}, h("progress", { max: 100, value: j.percentage, "aria-label": `Job ${j.id} progress` }),
          h("div", { class: "hint" }, `${j.percentage} %`, j.fileSize ? ` of ${bytes(j.fileSize)}` : "")),
        h("td", {}, j.createdBy),
        h("td", {}, when(j.startTime)),
        h("td", {}, when(j.endTime)),
        h("td", {}, j.messageDisplay),
        h("td", {}, j.isCancelable
          ? h("button", { type: "button", class: "secondary small", "aria-label": `Cancel job ${j.id}`,
            onclick: async () => { await cancelJob(j.id); refresh(); } }, "Cancel")
          : h("button", { type: "button", class: "secondary small", "aria-label": `Remove job ${j.id}`,
            onclick: async () => {
              try { await api("DELETE", `/tasks/${j.id}`); refresh(); } catch (e) { fail(e, `Job ${j.id} was not removed.`); }
            } }, "Remove"))))));
  };
  await refresh();
  if (!stale(seq)) state.timer = setInterval(refresh, 1500);
}

// -- remote file servers ------------------------------------------------------------------

function serverForm(server, done) {
  const s = server || {};
  const name = h("input", { type: "text", name: "displayName", required: true, value: s.displayName || "" });
  const protocol = h("select", { name: "protocol" }, options(["HTTP", "HTTPS", "FTP", "SFTP"].map((p) => [p, p]), s.protocol || "HTTPS"));
  const address = h("input", { type: "text", name: "address", required: true, value: s.address || "" });
  const port = h("input", { type: "number", name: "port", min: 1, max: 65535, required: true, value: s.port || 443 });
  const user = h("input", { type: "text", name: "username", autocomplete: "off", value: s.username || "" });
  const pw = h("input", { type: "password", name: "password", autocomplete: "new-password" });
  const keyType = h("select", { name: "keyType" }, options([["", "(password only)"], ["RSA-2048", "RSA-2048"], ["RSA-4096", "RSA-4096"], ["ECDSA-521-secp521r1", "ECDSA-521"]], s.keyType || ""));
  const passphrase = h("input", { type: "password", name: "keyPassphrase", autocomplete: "new-password" });
  protocol.addEventListener("change", () => {
    const defaults = { HTTP: 80, HTTPS: 443, FTP: 21, SFTP: 22 };
    if (Object.values(defaults).includes(Number(port.value))) port.value = defaults[protocol.value];
  });
  const form = h("form", { class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    const body = { displayName: name.value.trim(), protocol: protocol.value, address: address.value.trim(),
      port: Number(port.value), username: user.value.trim() };
    if (pw.value) body.password = pw.value;
    if (keyType.value && protocol.value === "SFTP" && keyType.value !== (s.keyType || "")) {
      body.keyType = keyType.value;
      if (passphrase.value) body.keyPassphrase = passphrase.value;
    }
    try {
      const r = s.serverId
        ? await api("PUT", `/osImages/remoteFileServers/${s.serverId}`, body)
        : await api("POST", "/osImages/remoteFileServers", body);
      say(`Saved the remote file server ${r.displayName}.` + (r.serverPublicKey ? " Install its public key (below) on the server." : ""));
      done();
    } catch (e) { fail(e, "The remote file server was not saved."); }
  } },
    h("h2", {}, s.serverId ? `Edit ${s.displayName}` : "Add a remote file server"),
    h("div", { class: "grid" },
      field("srv-name", "Name", name),
      field("srv-protocol", "Protocol", protocol),
      field("srv-address", "Address", address, "Host name or IP address."),
      field("srv-port", "Port", port),
      field("srv-user", "User name", user),
      field("srv-password", "Password", pw, s.serverId ? "Leave empty to keep the stored password." : "Stored encrypted; never shown again."),
      field("srv-keytype", "SFTP key pair", keyType, "osdepot generates the key pair and shows its public key."),
      field("srv-passphrase", "Key passphrase", passphrase)),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Save"),
      h("button", { type: "button", class: "secondary", onclick: done }, "Close")));
  return form;
}

function remoteImportForm(server, done) {
  const c = importControls("rimp");
  const path = h("input", { type: "text", name: "path", required: true, placeholder: "/isos/file.iso" });
  const status = h("div", {});
  const form = h("form", { class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    clearNotice();
    const button = form.querySelector("button[type=submit]");
    if (OS_REQUIRED.includes(c.type.value) && !c.os.value) {
      fail(new ApiError(0, null), "Choose the operating system the file is for.");
      c.os.focus();
      return;
    }
    button.disabled = true;
    let jobId = null;
    try {
      jobId = await createJob(c.type.value);
      const body = { serverId: String(server.serverId), path: path.value.trim() };
      if (c.ctype.value && c.cvalue.value.trim()) {
        body.checksumType = c.ctype.value;
        body.checksumValue = c.cvalue.value.trim();
      }
      await api("POST", `/files/osImages?${query({ jobId, imageType: c.type.value, os: c.os.value, imageName: c.name.value.trim() })}`, body);
      say(`Job ${jobId} imports ${body.path} from ${server.displayName}; follow it under Tasks.`);
      const job = await followJob(jobId, (j) => status.replaceChildren(jobSummary(j)));
      if (job.status === "Complete") say(`Imported ${body.path} from ${server.displayName}.`);
      else if (job.gaveUp) say(`Job ${jobId} has shown no progress for ${FOLLOW_STALL_MS / 1000} s; it goes on on the server. Follow or cancel it on the Tasks page.`);
      else { status.replaceChildren(); fail({ messages: job.messages, message: job.status }, `The import of ${body.path} did not complete (${job.status}).`); }
    } catch (e) {
      if (jobId && e.status !== 401) {
        // Refused before the job took the file: the job is dropped, the form kept.
        const [job] = await api("GET", `/tasks/${jobId}?compact=true`).catch(() => [{}]);
        if (job && job.status && !TERMINAL.has(job.status)) await dropJob(jobId);
      }
      if (e.status !== 401) fail(e, "The remote import did not start.");
    } finally { button.disabled = false; }
  } },
    h("h2", {}, `Import from ${server.displayName}`),
    field("rimp-path", "Path on the server", path),
    c.fields, status,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Import"),
      h("button", { type: "button", class: "secondary", onclick: done }, "Close")));
  return form;
}

async function showServers() {
  const data = await load("/osImages/remoteFileServers", "The remote file servers");
  if (!data) return;
  const servers = data.serverList || [];
  const panel = h("div", {});
  const open = (form) => { panel.replaceChildren(form); form.querySelector("input, select").focus(); };
  const close = () => showServers();
  const list = servers.length
    ? table(["Name", "Protocol", "Address", "User", "Key", ""], servers.map((s) => h("tr", {},
      h("td", {}, h("strong", {}, s.displayName), h("div", { class: "hint" }, `id ${s.serverId}`)),
      h("td", {}, s.protocol),
      h("td", { class: "mono" }, `${s.address}:${s.port}`),
      h("td", {}, s.username || ""),
      h("td", {}, s.serverPublicKey ? h("details", {}, h("summary", {}, s.keyType || "public key"),
        h("div", { class: "key mono" }, s.serverPublicKey)) : ""),
      h("td", {}, h("div", { class: "actions" },
        h("button", { type: "button", class: "small", onclick: () => open(remoteImportForm(s, close)) }, "Import from"),
        h("button", { type: "button", class: "secondary small", onclick: () => open(serverForm(s, close)) }, "Edit"),
        h("button", { type: "button", class: "danger small", "aria-label": `Delete ${s.displayName}`, onclick: async () => {
          if (!(await confirmDelete(`the remote file server ${s.displayName}`))) return;
          try { await api("DELETE", `/osImages/remoteFileServers/${s.serverId}`); say(`Deleted ${s.displayName}.`); showServers(); }
          catch (e) { fail(e, `${s.displayName} was not deleted.`); }
        } }, "Delete"))))))
    : h("div", { class: "empty" }, "No remote file servers. Add one to import files from an HTTP, HTTPS, FTP or SFTP server.");
  setView("Remote file servers",
    h("p", { class: "lead" }, "Servers osdepot pulls files from. Passwords and private keys are stored encrypted and never shown."),
    h("div", { class: "actions" }, h("button", { type: "button", onclick: () => open(serverForm(null, close)) }, "Add a server")),
    panel, h("h2", {}, `Servers (${servers.length})`), list);
}

// -- deployment ---------------------------------------------------------------------------

// States during which a deployment to a server runs (LXCA's ids 4 to 16).
const DEPLOYING = (s) => { const id = Number(s.deployStatusID); return id >= 4 && id <= 16; };

async function showDeploy() {
  const data = await load("/hostPlatforms", "The servers");
  if (!data) return;
  const hosts = data.items || [];
  const images = data.availableImages || [];
  const jobs = h("div", { class: "deploy-jobs", "aria-live": "polite" });
  const picks = hosts.map((s) => h("input", { type: "checkbox", name: "host", value: s.uuid,
    "aria-label": `Deploy to ${s.name || s.uuid}`, disabled: !s.virtualMediaCD || DEPLOYING(s) }));
  const list = hosts.length
    ? table(["", "Server", "Power", "Deployment", "Virtual CD", "BMC"], hosts.map((s, i) => h("tr", {},
      h("td", {}, picks[i]),
      h("td", {}, h("strong", {}, s.name || "(no name)"), h("div", { class: "hint mono" }, s.uuid),
        s.machineType ? h("div", { class: "hint" }, s.machineType) : null),
      h("td", {}, s.powerState || ""),
      h("td", {}, h("span", { class: DEPLOYING(s) ? "status-Running" : "" }, s.deployStatus.name),
        s.deployStatus.message ? h("div", { class: "hint" }, s.deployStatus.message) : null),
      h("td", {}, s.virtualMediaCD ? "yes" : "no"),
      h("td", { class: "mono" }, s.bmc.url))))
    : h("div", { class: "empty" }, "No servers. Register a BMC with `osdepot hosts add URL --user NAME` (or POST /bmcs).");
  const profile = h("select", { name: "profile" },
    images.length ? options(images.map((p) => [p, p]), images[0]) : h("option", { value: "" }, "(no profile: import an OS image first)"));
  const inputs = {
    hostname: h("input", { name: "hostname", autocomplete: "off" }),
    ipAddress: h("input", { name: "ipAddress", autocomplete: "off" }),
    subnetMask: h("input", { name: "subnetMask", autocomplete: "off", placeholder: "255.255.255.0" }),
    gateway: h("input", { name: "gateway", autocomplete: "off" }),
    dns1: h("input", { name: "dns1", autocomplete: "off" }),
  };
  const labels = { hostname: "Host name", ipAddress: "IP address", subnetMask: "Subnet mask",
    gateway: "Gateway", dns1: "DNS server" };
  // LXCA's storage targets; "" keeps each server's stored storage settings
  const target = h("select", { name: "targetDevice" }, options([["", "Each server's stored setting (else local disk)"],
    ["localdisk", "Local disk"], ["usbdisk", "USB disk"], ["m2disk", "M.2 disk"], ["sandisk", "SAN disk"]], ""));
  const form = h("form", { class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    const chosen = picks.filter((c) => c.checked).map((c) => c.value);
    if (!chosen.length) { say("Choose at least one server."); return; }
    const net = {};
    for (const [k, el] of Object.entries(inputs)) if (el.value.trim()) net[k] = el.value.trim();
    const own = Object.keys(net).length > 0;
    if (own && chosen.length > 1) {
      say("The network settings here are for one server. Choose one, or deploy several with the settings stored for each.");
      return;
    }
    const disk = target.value || (own ? "localdisk" : "");
    const body = chosen.map((uuid) => ({ uuid, selectedImage: profile.value,
      ...(own ? { networkSettings: net } : {}),
      ...(disk ? { storageSettings: { targetDevice: disk } } : {}) }));
    try {
      const rep = await api("PUT", "/hostPlatforms", body);
      say(`Deploying to ${rep.jobs.length} server(s).`);
      jobs.replaceChildren();
      for (const j of rep.jobs) {
        const box = h("div", { class: "deploy-job" });
        jobs.append(box);
        // A deployment waits for its installer for as long as the global state timeout:
        // follow it for a day at most.
        followJob(j.jobId, (job) => box.replaceChildren(h("p", { class: "hint mono" }, j.uuid), jobSummary(job)),
          24 * 3600 * 1000).catch((e) => fail(e, `Job ${j.jobId} could not be followed.`));
      }
    } catch (e) { fail(e, "The deployment was not started."); }
  } },
  h("h2", {}, "Deploy a profile"),
  field("dep-profile", "Profile", profile),
  h("p", { class: "hint" }, "Network settings for one server (empty: the settings stored for each server, or DHCP)."),
  ...Object.entries(inputs).map(([k, el]) => field(`dep-${k}`, labels[k], el)),
  field("dep-target", "Install on", target),
  h("div", { class: "actions" }, h("button", { type: "submit", disabled: !images.length || !hosts.length }, "Deploy")),
  jobs);
  setView("Deploy",
    h("p", { class: "lead" }, "Servers of the registered BMCs (Redfish). A deployment inserts the installation ISO and its unattended file as virtual media and starts the server; the installer reports its progress."),
    h("h2", {}, `Servers (${hosts.length})`), list, form);
}

// -- start --------------------------------------------------------------------------------

document.getElementById("logout").addEventListener("click", logout);
window.addEventListener("hashchange", () => { clearNotice(); route(); });

(async () => {
  // A live session (cookie) is reused; otherwise the login page shows.
  const resp = await fetch("/aicc", {
    credentials: "same-origin",
    headers: { Accept: "application/json", "X-Requested-With": "XMLHttpRequest" },
  });
  if (resp.ok) {
    // The name of the session's user, after a reload too.
    try { const who = await resp.json(); if (who.user && who.user.name) state.user = who.user.name; } catch { /* keep */ }
    if (!state.user) state.user = "signed in";
    sessionStorage.setItem("osdepot.user", state.user);
    startApp();
  } else {
    state.user = "";
    showLogin();
  }
})().catch((e) => {
  main().replaceChildren(h("p", { class: "error" }, `The page failed to start: ${e}`));
  console.error(e);
});
