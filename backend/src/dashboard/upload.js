// Uploading bars from the market page: the file is sent with a progress bar (fetch
// cannot report an upload's progress, XMLHttpRequest can), the button is disabled while
// it goes, and what the import found stays on screen until the next upload: rows read
// and stored, duplicates dropped, gaps, or the problems by row when it was refused.

import { shown } from "./format.js";

const minute = (iso) => iso.slice(0, 16).replace("T", " ");

// POST `body` to `path`; `progress(fraction)` while sending, null once it is all sent
// (then the server checks and stores). Resolves to { status, body } whatever the status.
function send(path, body, token, progress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", path);
    if (token) request.setRequestHeader("Authorization", `Bearer ${token}`);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) progress(event.loaded / event.total);
    });
    request.upload.addEventListener("load", () => progress(null));
    request.addEventListener("load", () => {
      let parsed = null;
      try { parsed = request.responseText ? JSON.parse(request.responseText) : null; } catch { parsed = null; }
      resolve({ status: request.status, body: parsed });
    });
    request.addEventListener("error", () => reject(new Error("the upload was cut off: check the connection and try again")));
    request.send(body);
  });
}

function reportTable(el, table, report) {
  const rows = [
    ["Rows read", shown("count", report.rows_read)],
    ["Rows stored", shown("count", report.rows_stored)],
    ["Duplicates dropped", shown("count", report.duplicates_dropped)],
    ["Rows out of order (sorted)", shown("count", report.rows_out_of_order)],
    ["Already stored (append)", shown("count", report.already_stored)],
    ["Gaps", shown("count", report.gap_count)],
  ];
  if (report.first && report.last) rows.splice(2, 0, ["Range", `${minute(report.first)} to ${minute(report.last)} (${report.timeframe})`]);
  const parts = [table(["Import", ""], rows)];
  if (report.gaps.length) {
    parts.push(el("h3", { text: "Longest gaps" }), table(["After", "Before", "Bars missing"],
      report.gaps.map((gap) => [minute(gap.after), minute(gap.before), shown("count", gap.missing_bars)])));
  }
  for (const note of report.notes) parts.push(el("p", { class: "muted", text: note }));
  return parts;
}

/** The upload form and what it reports. `onStored()` refreshes what lists the symbols. */
export function uploadSection({ el, table, say, message, token, onStored }) {
  const note = message();
  const report = el("div", { id: "import-report" });
  const bar = el("progress", { id: "upload-progress", max: 1, value: 0, "aria-label": "upload progress", hidden: true });
  const button = el("button", { class: "primary", type: "submit", id: "upload", text: "Upload" });
  const form = el("form", { class: "grid", id: "upload-form" },
    el("label", {}, "Symbol", el("input", { name: "symbol", required: true, placeholder: "ACME" })),
    el("label", {}, "File (CSV or Parquet)", el("input", { name: "file", type: "file", required: true, accept: ".csv,.parquet,.pq" })),
    el("label", {}, "Mode", el("select", { name: "mode" }, el("option", { value: "replace", text: "new or replace" }),
      el("option", { value: "append", text: "append newer bars" }))),
    el("label", { class: "check" }, el("input", { name: "duplicates", type: "checkbox", value: "drop" }),
      "Drop rows whose time repeats an earlier row (keep the first)"),
    el("div", { class: "actions" }, button));
  const progress = (fraction) => {
    if (fraction === null) {
      bar.removeAttribute("value");  // indeterminate: the server is checking and storing
      say(note, "Sent; checking and storing the bars…");
    } else {
      bar.value = fraction;
      say(note, `Sending: ${shown("percent", fraction)}`);
    }
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData();
    data.append("file", form.elements.file.files[0]);
    const query = new URLSearchParams({ mode: form.elements.mode.value,
      duplicates: form.elements.duplicates.checked ? "drop" : "refuse" });
    const symbol = form.elements.symbol.value.trim();
    button.disabled = true;
    bar.hidden = false;
    bar.value = 0;
    report.replaceChildren();
    try {
      const answer = await send(`/api/market-data/symbols/${encodeURIComponent(symbol)}?${query}`, data, token(), progress);
      const outcome = answer.body || {};
      if (answer.status >= 200 && answer.status < 300) {
        const stored = outcome.report.rows_stored;
        say(note, stored ? `${symbol}: stored ${shown("count", stored)} of ${shown("count", outcome.report.rows_read)} rows.`
          : `${symbol}: nothing new to store.`, "good");
        report.replaceChildren(...reportTable(el, table, outcome.report));
        await onStored();
      } else {
        say(note, outcome.detail || `the upload was refused (error ${answer.status})`, "bad");
        const problems = outcome.report?.problems || [];
        if (problems.length) {
          report.replaceChildren(table(["Problem", "Rows affected", "First rows"],
            problems.map((p) => [p.problem, shown("count", p.count), p.rows.join(", ")])));
        }
      }
    } catch (error) {
      say(note, error.message, "bad");
    } finally {
      button.disabled = false;
      bar.hidden = true;
    }
  });
  return [el("h2", { text: "Upload" }), form, bar, note, report];
}
