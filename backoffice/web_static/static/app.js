/* Hotline QA page: hash routes, data from /api with the HttpOnly session cookie.
   Text from the API is always set with textContent (never parsed as HTML). */
"use strict";
(function () {
  const main = document.getElementById("main");
  const statusEl = document.getElementById("status");
  let me = null;
  let timer = null;

  // ---- small helpers
  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const k of kids.flat()) if (k != null) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    return e;
  }
  const fmtTime = s => s ? new Date(s).toLocaleString() : "";
  const pct = v => v == null ? "–" : Math.round(v * 100) + "%";
  const num = v => v == null ? "–" : String(v);
  function say(msg) { statusEl.textContent = msg || ""; }

  async function api(path, opts) {
    opts = opts || {};
    const headers = { "Accept": "application/json" };
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    if (opts.method && opts.method !== "GET") headers["X-Hotline-CSRF"] = "1";
    const r = await fetch(path, { method: opts.method || "GET", headers, credentials: "same-origin",
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined });
    if (r.status === 401 && !path.endsWith("/auth/login")) { me = null; go("#/login"); throw new Error("log in again"); }
    if (r.status === 204) return null;
    const data = await r.json().catch(() => null);
    if (!r.ok) {
      const err = new Error((data && data.message) || ("HTTP " + r.status));
      err.status = r.status; err.body = data;  // ErrorBody: error_id, message, details
      throw err;
    }
    return data;
  }
  function go(hash) { if (location.hash !== hash) location.hash = hash; else route(); }
  const home = () => me.role === "operator" ? "#/screenpop" : ["admin", "team_lead"].includes(me.role) ? "#/wallboard" : "#/calls";
  function params() {
    const q = location.hash.split("?")[1] || "";
    return new URLSearchParams(q);
  }

  // ---- pages
  function loginPage() {
    document.getElementById("top").hidden = true;
    const user = h("input", { id: "username", name: "username", autocomplete: "username", required: true, autofocus: true });
    const pass = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
    const form = h("form", { class: "login", onsubmit: async ev => {
      ev.preventDefault();
      try {
        const res = await api("/api/auth/login", { method: "POST", body: { username: user.value, password: pass.value } });
        me = res.user; say("");
        go(home());
      } catch (e) { say(e.message); pass.select(); }
    } },
      h("h1", { text: "Hotline QA: log in" }),
      h("label", { for: "username", text: "User name" }), user,
      h("label", { for: "password", text: "Password" }), pass,
      h("button", { class: "primary", type: "submit", id: "login", text: "Log in" }));
    main.replaceChildren(form);
    user.focus();
  }

  const FILTERS = [
    ["date_from", "From", "date"], ["date_to", "To", "date"],
    ["operator_id", "Operator", "operator"], ["team_id", "Team", "team"],
    ["rating", "Rating", [["", "any"], ["rated", "rated"], ["none", "not rated"], ["5", "5"], ["4", "4"], ["3", "3"], ["2", "2"], ["1", "1"]]],
    ["reached_team_lead", "Team lead", [["", "any"], ["true", "reached"], ["false", "not reached"]]],
    ["intent", "Intent", "text"],
    ["vip", "VIP", [["", "any"], ["true", "VIP"], ["false", "not VIP"]]],
    ["bot_only", "Bot only", [["", "any"], ["true", "bot only"], ["false", "not bot only"]]],
  ];
  let lookups = null;
  async function loadLookups() {
    if (lookups || !me || me.role !== "qa") return lookups || { operators: [], teams: [] };
    const [wb, stats] = await Promise.all([api("/api/wallboard"), api("/api/stats")]);
    lookups = {
      operators: wb.operators.map(o => [String(o.id), `${o.name} (${o.extension})`]),
      teams: stats.by_team.filter(t => t.key !== "none").map(t => [t.key, t.label]),
    };
    return lookups;
  }
  function filterForm(p, lk, target) {
    const fields = FILTERS.map(([name, label, kind]) => {
      let input;
      const val = p.get(name) || "";
      if (kind === "date" || kind === "text") input = h("input", { name, id: "f-" + name, type: kind, value: val });
      else {
        const opts = kind === "operator" ? [["", "any"], ...lk.operators] : kind === "team" ? [["", "any"], ...lk.teams] : kind;
        input = h("select", { name, id: "f-" + name }, opts.map(([v, t]) => h("option", { value: v, selected: v === val, text: t })));
      }
      if (me.role === "operator" && (name === "operator_id" || name === "team_id")) return null;
      return h("label", {}, label, input);
    });
    return h("form", { class: "filters", id: "filters", onsubmit: ev => {
      ev.preventDefault();
      const q = new URLSearchParams();
      for (const [k, v] of new FormData(ev.target)) if (v) q.set(k, v);
      go(target + (q.toString() ? "?" + q : ""));
    } }, fields, h("button", { class: "primary", type: "submit", id: "apply", text: "Apply" }));
  }

  async function callsPage() {
    const p = params();
    const lk = await loadLookups();
    const q = new URLSearchParams(p); q.set("limit", "200");
    const page = await api("/api/calls?" + q);
    const rows = page.items.map(c => h("tr", { "data-href": "#/call/" + c.id, class: "call-row" },
      h("td", {}, h("a", { href: "#/call/" + c.id, text: String(c.id) })),
      h("td", { text: fmtTime(c.started_at) }),
      h("td", {}, c.caller_name || c.caller_number || "unknown", " ", c.vip ? h("span", { class: "tag vip", text: "VIP" }) : null),
      h("td", { text: c.operator_name || "" }), h("td", { text: c.team_name || "" }),
      h("td", { text: c.intent || "" }),
      h("td", { class: "num", text: c.rating == null ? (c.rating_status === "no_rating" ? "none" : "") : String(c.rating) }),
      h("td", {}, c.reached_team_lead ? h("span", { class: "tag lead", text: "lead" + (c.review_status ? ": " + c.review_status : "") }) : null,
        c.bot_only ? h("span", { class: "tag bot", text: "bot only" }) : null),
      h("td", { text: c.has_recording ? "yes" : "" }),
      h("td", { text: c.outcome || "" })));
    main.replaceChildren(
      h("h1", { text: "Calls" }), filterForm(p, lk, "#/calls"),
      h("p", { class: "muted", id: "count", text: `${page.total} calls` + (page.total > page.items.length ? `, newest ${page.items.length} shown` : "") }),
      h("table", { id: "calls" },
        h("thead", {}, h("tr", {}, ["#", "Started", "Caller", "Operator", "Team", "Intent", "Rating", "Flags", "Recording", "Outcome"].map(t => h("th", { text: t })))),
        h("tbody", {}, rows)));
    selectRow(0);
  }

  function selectRow(i) {
    const rows = [...main.querySelectorAll("tbody tr[data-href]")];
    if (!rows.length) return;
    i = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach((r, j) => r.classList.toggle("sel", j === i));
    rows[i].scrollIntoView({ block: "nearest" });
  }
  function selectedIndex() {
    return [...main.querySelectorAll("tbody tr[data-href]")].findIndex(r => r.classList.contains("sel"));
  }

  async function callPage(id) {
    const rec = await api("/api/calls/" + encodeURIComponent(id));
    const c = rec.call;
    const card = (k, v) => h("div", { class: "card" }, h("div", { class: "k", text: k }), h("div", { class: "v", text: v }));
    const recs = rec.recordings.map(r => {
      let body;
      if (r.audio_url) body = h("audio", { controls: true, preload: "metadata", src: r.audio_url, id: "player-" + r.id });
      else if (r.purged_at) body = h("p", { class: "muted", text: `Deleted ${fmtTime(r.purged_at)}: ${r.purge_reason || "retention"}` });
      else if (!r.enabled) body = h("p", { class: "muted", text: "Not recorded: " + (r.disabled_reason || "") });
      else body = h("p", { class: "muted", text: "No audio available to you." });
      return h("div", { class: "recording" }, h("p", {}, `Recording ${r.id}, ${fmtTime(r.started_at)}` + (r.duration ? `, ${r.duration.toFixed(1)} s` : "")), body);
    });
    const transcript = (rec.bot_transcript || []).map(t => typeof t === "object" && t
      ? h("p", {}, h("span", { class: "who", text: (t.role || t.who || t.speaker || "?") + ":" }), t.text || JSON.stringify(t))
      : h("p", { text: String(t) }));
    const review = rec.review ? h("p", {}, `Review: ${rec.review.status} (${rec.review.reason || ""})`,
      rec.review.notes ? h("span", { class: "muted", text: " — " + rec.review.notes }) : null) : null;
    main.replaceChildren(h("div", { class: "call" },
      h("p", {}, h("a", { href: "#/calls", text: "← calls" })),
      h("h1", { id: "call-title", text: `Call ${c.id}: ${c.caller_name || c.caller_number || "unknown caller"}` }),
      h("div", { class: "cards" },
        card("Started", fmtTime(c.started_at)), card("Operator", c.operator_name || "—"),
        card("Intent", rec.intent || "—"), card("Rating", rec.rating ? (rec.rating.score == null ? "none" : rec.rating.score + " / 5") : "—"),
        card("Outcome", c.outcome || "—"),
        c.queue_joined_at ? card("Queue wait", c.abandoned_after_seconds != null
          ? `abandoned after ${c.abandoned_after_seconds.toFixed(1)} s` : c.queue_wait_seconds != null ? c.queue_wait_seconds.toFixed(1) + " s" : "waiting") : null),
      review,
      (rec.callbacks || []).length ? h("section", { id: "callbacks" }, h("h2", { text: "Callbacks" }),
        h("table", {}, h("thead", {}, h("tr", {}, ["Kind", "State", "Requested", "Operator rang", "Placed", "Answered", "Attempts", "Reason"].map(t => h("th", { text: t })))),
          h("tbody", {}, rec.callbacks.map(b => h("tr", {},
            h("td", { text: b.kind.replace(/_/g, " ") }), h("td", { text: b.state.replace(/_/g, " ") }),
            h("td", { text: fmtTime(b.requested_at) }), h("td", { text: fmtTime(b.operator_rang_at) }),
            h("td", { text: fmtTime(b.placed_at) }), h("td", { text: fmtTime(b.answered_at) }),
            h("td", { class: "num", text: String(b.attempts) }), h("td", { text: b.reason || "" })))))) : null,
      h("h2", { text: "Recording" }), recs.length ? recs : h("p", { class: "muted", text: "No recording." }),
      h("div", { class: "grid2" },
        h("section", {}, h("h2", { text: "Timeline" }),
          h("table", { id: "timeline" }, h("tbody", {}, rec.timeline.map(t => h("tr", {},
            h("td", { text: t.at ? new Date(t.at).toLocaleTimeString() : "" }),
            h("td", {}, h("span", { class: "tag", text: t.source })),
            h("td", { text: t.kind }), h("td", { text: t.detail }))))),
          h("h2", { text: "Routing attempts" }),
          h("table", {}, h("tbody", {}, rec.attempts.map(a => h("tr", {},
            h("td", { text: a.reason || "" }), h("td", { text: a.outcome || "" }),
            h("td", { class: "num", text: a.duration != null ? a.duration.toFixed(1) + " s" : "" })))))),
        h("section", { class: "transcript", id: "transcript" }, h("h2", { text: "Bot transcript" }),
          transcript.length ? transcript : h("p", { class: "muted", text: "The bot did not take part." })))));
  }

  async function reviewsPage() {
    const p = params();
    const status = p.get("status") || "open";
    const items = await api("/api/reviews?status=" + encodeURIComponent(status));
    const sel = h("select", { id: "review-status", onchange: e => go("#/reviews?status=" + e.target.value) },
      ["open", "in_review", "done", "all"].map(s => h("option", { value: s, selected: s === status, text: s })));
    const rows = items.map(it => {
      const st = h("select", {}, ["open", "in_review", "done"].map(s => h("option", { value: s, selected: s === it.review.status, text: s })));
      const notes = h("textarea", { rows: 2, cols: 40 }); notes.value = it.review.notes || "";
      const save = h("button", { type: "button", text: "Save", onclick: async () => {
        try { await api("/api/reviews/" + it.call.id, { method: "PATCH", body: { status: st.value, notes: notes.value } }); say(""); save.textContent = "Saved"; }
        catch (e) { say(e.message); }
      } });
      return h("tr", { "data-href": "#/call/" + it.call.id },
        h("td", {}, h("a", { href: "#/call/" + it.call.id, text: String(it.call.id) })),
        h("td", { text: fmtTime(it.review.flagged_at) }), h("td", { text: it.review.reason || "" }),
        h("td", { text: it.call.caller_name || it.call.caller_number || "" }),
        h("td", { text: it.call.operator_name || "" }), h("td", {}, st), h("td", {}, notes),
        h("td", { text: it.review.reviewer || "" }), h("td", {}, save));
    });
    main.replaceChildren(h("h1", { text: "Review queue: calls that reached a team lead" }),
      h("form", { class: "filters" }, h("label", {}, "Status", sel)),
      h("table", { id: "reviews" }, h("thead", {}, h("tr", {}, ["#", "Flagged", "Reason", "Caller", "Answered by", "Status", "Notes", "Reviewer", ""].map(t => h("th", { text: t })))),
        h("tbody", {}, rows)));
    selectRow(0);
  }

  async function statsPage() {
    const p = params();
    const s = await api("/api/stats?" + p);
    const t = s.totals;
    const card = (k, v, cls) => h("div", { class: "card" }, h("div", { class: "k", text: k }), h("div", { class: "v " + (cls || ""), text: v }));
    const table = (title, groups) => h("section", {}, h("h2", { text: title }), h("table", {},
      h("thead", {}, h("tr", {}, ["", "Calls", "Rated", "CSAT", "Rated share", "Bot containment", "ASA", "Abandoned"].map(x => h("th", { class: x ? "num" : null, text: x })))),
      h("tbody", {}, groups.map(g => h("tr", {}, h("td", { text: g.label }),
        h("td", { class: "num", text: g.calls }), h("td", { class: "num", text: g.rated }), h("td", { class: "num", text: pct(g.csat) }),
        h("td", { class: "num", text: pct(g.rating_share) }), h("td", { class: "num", text: pct(g.containment) }),
        h("td", { class: "num", text: g.asa_seconds == null ? "–" : g.asa_seconds.toFixed(1) + " s" }), h("td", { class: "num", text: pct(g.abandonment) }))))));
    const dayPlot = h("div", { id: "plot-day" }, Plot.line(s.by_day.map(d => ({ x: d.label, y: d.csat, n: d.rated })), { title: "CSAT per day", target: s.csat_target }));
    const opPlot = h("div", { id: "plot-operator" }, Plot.bars(s.by_operator.filter(o => o.rated > 0).map(o => ({ label: o.label, value: o.csat, n: o.rated })), { title: "CSAT per operator", target: s.csat_target }));
    main.replaceChildren(h("h1", { text: "Statistics" }),
      h("form", { class: "filters", onsubmit: ev => {
        ev.preventDefault(); const q = new URLSearchParams();
        for (const [k, v] of new FormData(ev.target)) if (v) q.set(k, v);
        go("#/stats" + (q.toString() ? "?" + q : ""));
      } },
        h("label", {}, "From", h("input", { type: "date", name: "date_from", id: "f-date_from", value: p.get("date_from") || "" })),
        h("label", {}, "To", h("input", { type: "date", name: "date_to", value: p.get("date_to") || "" })),
        h("button", { class: "primary", type: "submit", text: "Apply" })),
      h("div", { class: "cards", id: "totals" },
        card("CSAT (target " + pct(s.csat_target) + ")", pct(t.csat), t.csat == null ? "" : t.csat >= s.csat_target ? "good" : "bad"),
        card("Rated calls", `${t.rated} (${pct(t.rating_share)})`),
        card("Bot containment", pct(t.containment)),
        card("Average speed of answer", t.asa_seconds == null ? "–" : t.asa_seconds.toFixed(1) + " s"),
        card("Abandonment", pct(t.abandonment)), card("Calls", num(t.calls)),
        card("Queue wait (mean)", t.queue_wait_avg_seconds == null ? "–" : `${t.queue_wait_avg_seconds.toFixed(1)} s (${t.queued} calls)`),
        card("Hung up in queue", t.queue_abandoned ? `${t.queue_abandoned}, after ${t.abandoned_after_avg_seconds.toFixed(1)} s` : "0"),
        card("Callbacks asked / placed / answered", `${t.callbacks_requested} / ${t.callbacks_placed} / ${t.callbacks_answered}`)),
      h("div", { class: "grid2" }, dayPlot, opPlot),
      table("By operator", s.by_operator), table("By team", s.by_team), table("By intent", s.by_intent), table("By day", s.by_day));
  }

  // The wallboard: operators' presence, the queue's figures (GET /api/wallboard/queue) and the
  // callers to call back (GET /api/wallboard/abandoned), redrawn every 3 s. The controls (window,
  // service level threshold) live in the hash and are not redrawn, so typing is not interrupted.
  const callBackNotes = new Map();  // call_id -> what the last "Call back" answered (kept across redraws)
  const secs = v => v == null ? "–" : (v < 90 ? v.toFixed(1) + " s" : Math.floor(v / 60) + " min " + Math.round(v % 60) + " s");
  const pct1 = v => v == null ? "–" : (v * 100).toFixed(1) + "%";
  function qcard(id, label, text, value, cls) {
    return h("div", { class: "card", id, "data-value": value == null ? "" : String(value) },
      h("div", { class: "k", text: label }), h("div", { class: "v" + (cls ? " " + cls : ""), text }));
  }
  function queueCards(f, slSeconds) {
    return [
      qcard("q-waiting", "Waiting now", String(f.waiting_now), f.waiting_now),
      qcard("q-longest", "Longest wait", secs(f.longest_wait_seconds), f.longest_wait_seconds),
      qcard("q-sl", `Service level (${slSeconds} s)`, pct1(f.service_level), f.service_level),
      qcard("q-asa", "Average speed of answer", secs(f.asa_seconds), f.asa_seconds),
      qcard("q-abandon", "Abandoned", `${pct1(f.abandonment)} (${f.abandoned})`, f.abandonment),
      qcard("q-abandon-after", "Abandoned after (mean)", secs(f.abandoned_after_mean_seconds), f.abandoned_after_mean_seconds),
      qcard("q-answered", "Answered", `${f.answered} (${f.answered_within} within ${slSeconds} s)`, f.answered),
      qcard("q-callbacks", "Callbacks pending / done / failed", `${f.callbacks_pending} / ${f.callbacks_done} / ${f.callbacks_failed}`,
        `${f.callbacks_pending}/${f.callbacks_done}/${f.callbacks_failed}`),
    ];
  }
  async function callBack(item, cell, button) {
    button.disabled = true;
    callBackNotes.set(item.call_id, { text: "calling…", cls: "muted" });
    cell.replaceChildren(h("span", { class: "muted", text: "calling…" }));
    try {
      await api("/api/callbacks/click-to-call", { method: "POST", body: { call_id: item.call_id } });
      callBackNotes.set(item.call_id, { text: "started: your phone rings first, then the caller", cls: "good" });
    } catch (e) {
      const why = e.status === 404 ? "click-to-call is not available on this server (HTTP 404)"
        : `${e.message}${e.status ? " (HTTP " + e.status + ")" : ""}`;
      callBackNotes.set(item.call_id, { text: "Call back failed: " + why, cls: "bad" });
      say("Call back failed: " + why);
    }
    const note = callBackNotes.get(item.call_id);
    cell.replaceChildren(h("span", { class: "callback-note " + note.cls, role: "alert", text: note.text }));
    button.disabled = false;
  }
  function callBackRow(item) {
    const note = callBackNotes.get(item.call_id);
    const cell = h("td", { class: "callback-result" }, note ? h("span", { class: "callback-note " + note.cls, role: "alert", text: note.text }) : null);
    const button = h("button", { type: "button", class: "primary call-back", "data-call-id": String(item.call_id), text: "Call back" });
    button.addEventListener("click", () => callBack(item, cell, button));
    return h("tr", { "data-call-id": String(item.call_id), "data-kind": item.kind },
      h("td", {}, h("a", { href: "#/call/" + item.call_id, text: String(item.call_id) })),
      h("td", { text: item.kind === "abandoned" ? "abandoned" : "callback failed" }),
      h("td", {}, item.caller_name || item.caller_number || "unknown", " ", item.vip ? h("span", { class: "tag vip", text: "VIP" }) : null),
      h("td", { text: item.caller_number || "" }),
      h("td", { class: "num", text: item.waited_seconds == null ? "" : "after " + secs(item.waited_seconds) }),
      h("td", { text: fmtTime(item.at) }), h("td", { text: item.team || "" }),
      h("td", { text: [item.reason, item.called_back ? "click-to-call: " + item.called_back.replace("_", " ") : ""].filter(Boolean).join(" · ") }),
      h("td", {}, button), cell);
  }
  async function wallboardPage() {
    const p = params();
    const hours = p.get("hours") || "", sl = p.get("sl") || "", since = p.get("since") || "";
    const q = new URLSearchParams(), aq = new URLSearchParams();  // the figures', the list's
    if (hours) { q.set("hours", hours); aq.set("hours", hours); }
    if (since) { q.set("since", since); aq.set("since", since); }  // a link's own window start
    if (sl) q.set("service_level_s", sl);
    const form = h("form", { class: "filters", id: "q-controls", onsubmit: ev => {
      ev.preventDefault();
      const out = new URLSearchParams();
      for (const [k, v] of new FormData(ev.target)) if (v) out.set(k, v);
      if (since) out.set("since", since);
      go("#/wallboard" + (out.toString() ? "?" + out : ""));
    } },
      h("label", {}, "Window", h("select", { name: "hours", id: "q-hours" },
        [["", "today"], ["1", "last hour"], ["4", "last 4 hours"], ["8", "last 8 hours"], ["24", "last 24 hours"]]
          .map(([v, t]) => h("option", { value: v, selected: v === hours, text: t })))),
      h("label", {}, "Service level within (s)", h("input", { name: "sl", id: "q-sl-seconds", type: "number", min: "1", max: "600", value: sl, placeholder: "20" })),
      h("button", { class: "primary", type: "submit", text: "Apply" }));
    const presence = h("section", { id: "presence" }), queue = h("section", { id: "queue" }), back = h("section", { id: "call-back" });
    main.replaceChildren(h("h1", { text: "Wallboard" }), form, queue, back, presence);
    const draw = async () => {
      const [w, b, ab] = await Promise.all([api("/api/wallboard"), api("/api/wallboard/queue?" + q),
        api("/api/wallboard/abandoned?" + aq)]);
      const slS = b.service_level_seconds;
      queue.replaceChildren(
        h("h2", { text: `Queue · ${b.window} · updated ${new Date(b.at).toLocaleTimeString()}` }),
        h("div", { class: "cards", id: "q-overall", "data-at": b.at }, queueCards(b.overall, slS)),
        h("h3", { text: `Waiting now (${b.waiting.length})` }),
        h("table", { id: "q-waiting-list" },
          h("thead", {}, h("tr", {}, ["#", "Caller", "", "Waited", "Team"].map(t => h("th", { text: t })))),
          h("tbody", {}, b.waiting.map(x => h("tr", { "data-call-id": x.call_id == null ? "" : String(x.call_id) },
            h("td", { class: "num", text: String(x.position) }),
            h("td", { text: x.caller_name || x.caller_number || "unknown" }),
            h("td", {}, x.vip ? h("span", { class: "tag vip", text: "VIP" }) : null,
              x.callback ? h("span", { class: "tag", text: "callback " + (x.callback_state || "").replace("_", " ") }) : null),
            h("td", { class: "num", text: secs(x.waited_seconds) }), h("td", { text: x.team || "" }))))),
        h("h3", { text: "Per team" }),
        h("table", { id: "q-teams" },
          h("thead", {}, h("tr", {}, ["Team", "Waiting", "Longest", `SL ${slS} s`, "ASA", "Answered", "Abandoned", "Abandoned after", "Callbacks pending / done / failed"]
            .map(t => h("th", { text: t })))),
          h("tbody", {}, b.by_team.map(t => h("tr", { "data-team": t.team },
            h("td", { text: t.team }), h("td", { class: "num", text: String(t.waiting_now) }),
            h("td", { class: "num", text: secs(t.longest_wait_seconds) }),
            h("td", { class: "num", text: pct1(t.service_level) }), h("td", { class: "num", text: secs(t.asa_seconds) }),
            h("td", { class: "num", text: String(t.answered) }),
            h("td", { class: "num", text: `${t.abandoned} (${pct1(t.abandonment)})` }),
            h("td", { class: "num", text: secs(t.abandoned_after_mean_seconds) }),
            h("td", { class: "num", text: `${t.callbacks_pending} / ${t.callbacks_done} / ${t.callbacks_failed}` }))))));
      back.replaceChildren(
        h("h2", { text: `To call back (${ab.items.length})` }),
        ab.items.length ? h("table", { id: "to-call-back" },
          h("thead", {}, h("tr", {}, ["#", "What", "Caller", "Number", "Waited", "When", "Team", "Note", "", ""].map(t => h("th", { text: t })))),
          h("tbody", {}, ab.items.map(callBackRow)))
          : h("p", { class: "muted", id: "to-call-back-empty", text: "Nobody abandoned, no failed callbacks." }));
      const tiles = w.operators.map(o => h("div", { class: "tile " + o.presence },
        h("strong", { text: o.name }), h("div", { class: "muted", text: `${o.extension} · ${o.team || ""}` }), h("div", { text: o.presence.replace("_", " ") })));
      presence.replaceChildren(h("h2", { text: "Operators" }),
        h("p", { class: "muted", text: Object.entries(w.presence_counts).map(([k, v]) => `${k}: ${v}`).join(" · ") + ` · updated ${new Date(w.at).toLocaleTimeString()}` }),
        h("div", { class: "tiles", id: "tiles" }, tiles),
        h("h2", { text: `Calls in progress (${w.calls.length})` }),
        h("table", { id: "live" }, h("tbody", {}, w.calls.map(c => h("tr", {},
          h("td", { text: c.caller_name || c.caller_number || "unknown" }), h("td", {}, c.vip ? h("span", { class: "tag vip", text: "VIP" }) : null),
          h("td", { text: c.state.replace("_", " ") }), h("td", { text: c.answered_by ? c.answered_by.name : "" }),
          h("td", { class: "num", text: Math.round(c.waiting_seconds) + " s" }))))));
      main.dataset.drawn = String(Number(main.dataset.drawn || 0) + 1);
    };
    await draw();
    timer = setInterval(() => draw().catch(e => say(e.message)), 3000);
  }

  async function screenpopPage() {
    const draw = async () => {
      const s = await api("/api/me/screenpop");
      main.replaceChildren(h("h1", { text: "Screen-pop" }), s.call_id == null ? h("p", { class: "muted", text: "No call right now." }) :
        h("div", { class: "cards" }, h("div", { class: "card" }, h("div", { class: "k", text: "Caller" }),
          h("div", { class: "v", text: (s.vip ? "VIP " : "") + (s.caller_name || s.caller_number || "unknown") })),
          h("div", { class: "card" }, h("div", { class: "k", text: "Topic" }), h("div", { class: "v", text: s.intent || "—" })),
          h("div", { class: "card" }, h("div", { class: "k", text: "Previous calls" }), h("div", { class: "v", text: String(s.previous_calls) })),
          h("div", { class: "card" }, h("div", { class: "k", text: "Last rating" }), h("div", { class: "v", text: num(s.last_rating) }))));
    };
    await draw();
    timer = setInterval(() => draw().catch(e => say(e.message)), 2000);
  }

  // ---- admin: teams, operators, known callers and web users (admins only; the API refuses others).
  // Each tab is a form (create, or edit the row chosen with "Edit") beside its table. On an error
  // the form keeps everything typed and says next to it, in plain words, what went wrong.
  const ADMIN_TABS = [["teams", "Teams"], ["operators", "Operators"], ["callers", "Known callers"], ["users", "Web users"]];
  const dir = { teams: [], operators: [] };
  let callerQuery = "";
  const opName = id => { const o = dir.operators.find(x => x.id === id); return o ? `${o.name} (${o.extension})` : id == null ? "" : "operator " + id; };
  const teamName = id => { const t = dir.teams.find(x => x.id === id); return t ? t.name : id == null ? "" : "team " + id; };
  const opOptions = () => [["", "— none —"], ...dir.operators.map(o => [String(o.id), `${o.name} (${o.extension})`])];
  const teamOptions = () => [["", "— none —"], ...dir.teams.map(t => [String(t.id), t.name])];
  async function loadDirectory() {
    [dir.teams, dir.operators] = await Promise.all([api("/api/admin/teams"), api("/api/admin/operators")]);
  }
  const PLAIN = {
    operator_id_required: "choose the linked operator: a user with the operator or team lead role needs one.",
    cannot_demote_self: "you cannot deactivate yourself or take away your own admin role.",
    invalid_backups: "backups must be different operators, and not the operator itself.",
  };
  const byMode = (x, editing) => typeof x === "function" ? x(editing) : x;

  // A field: label, input, help text and its own error line (both read out with the input).
  function adminField(prefix, f) {
    const id = `${prefix}-${f.name}`;
    const input = f.kind === "select" ? h("select", { id, name: f.name })
      : h("input", { id, name: f.name, type: f.kind || "text", autocomplete: f.autocomplete || "off",
        maxlength: f.max, inputmode: f.inputmode, spellcheck: f.kind ? null : "false" });
    const label = h("label", { for: id });
    const hint = h("small", { class: "hint", id: id + "-hint" });
    const err = h("small", { class: "field-err", id: id + "-err", hidden: true });
    input.setAttribute("aria-describedby", `${id}-hint ${id}-err`);
    const wrap = h("div", { class: f.kind === "checkbox" ? "field check" : "field" },
      f.kind === "checkbox" ? [input, label] : [label, input], hint, err);
    const options = value => {
      input.replaceChildren(...f.options().map(([v, t]) => h("option", { value: v, text: t })));
      input.value = value;
      if (input.value !== value) input.value = "";
    };
    return { f, input, label, hint, err, wrap, options };
  }

  // The create/edit form of one tab. spec: id, what, fields, list (table id), title(item),
  // create(v), update(item, v), remove(item)?, confirmRemove, conflict(v, editing),
  // saved(res, created, v, was), removed(item), reload(), extra? {el, set(item), refresh()}, onMode?.
  function adminForm(spec) {
    const p = spec.id;
    const fields = spec.fields.map(f => adminField(p, f));
    const by = Object.fromEntries(fields.map(x => [x.f.name, x]));
    const title = h("h2", { id: p + "-title" });
    const errBox = h("div", { class: "form-err", id: p + "-error", role: "alert", hidden: true });
    const okBox = h("p", { class: "form-ok", id: p + "-ok", role: "status" });
    const save = h("button", { class: "primary", type: "submit", id: p + "-save" });
    const cancel = h("button", { type: "button", id: p + "-cancel", onclick: () => { self.reset(); self.focus(); } });
    const del = h("button", { type: "button", class: "danger", id: p + "-delete", text: "Delete", onclick: () => remove() });
    const form = h("form", { class: "edit", id: p, novalidate: true, "aria-labelledby": title.id,
      onsubmit: ev => { ev.preventDefault(); submit(); } },
      title, fields.map(x => x.wrap), spec.extra ? spec.extra.el : null, errBox,
      h("div", { class: "actions" }, save, cancel, spec.remove ? del : null), okBox);
    let item = null, busy = false;

    function clearMessages() {
      errBox.hidden = true; errBox.replaceChildren(); okBox.textContent = "";
      for (const x of fields) { x.err.hidden = true; x.err.textContent = ""; x.input.removeAttribute("aria-invalid"); }
    }
    function mode() {
      const editing = item != null;
      title.textContent = editing ? spec.title(item) : "New " + spec.what;
      save.textContent = editing ? "Save changes" : "Create " + spec.what;
      cancel.textContent = editing ? "Cancel" : "Clear";
      del.hidden = !editing;
      for (const x of fields) {
        x.label.textContent = byMode(x.f.label, editing);
        x.hint.textContent = byMode(x.f.hint, editing) || "";
        x.input.disabled = editing && !!x.f.createOnly;
      }
      const tbody = document.querySelector(`#${spec.list} tbody`);
      if (tbody) for (const tr of tbody.rows) tr.classList.toggle("editing", editing && tr.dataset.id === String(item.id));
      if (spec.onMode) spec.onMode(item, self);
    }
    function fill(it) {
      for (const x of fields) {
        const v = it ? (x.f.get ? x.f.get(it) : it[x.f.name]) : x.f.initial;
        if (x.f.kind === "checkbox") x.input.checked = !!v;
        else if (x.f.kind === "select") x.options(v == null ? "" : String(v));
        else x.input.value = x.f.kind === "password" || v == null ? "" : String(v);  // passwords are write-only
      }
      if (spec.extra) spec.extra.set(it);
    }
    function values() {
      const v = {};
      for (const x of fields) {
        const raw = x.input.value;
        v[x.f.name] = x.f.kind === "checkbox" ? x.input.checked : x.f.kind === "password" ? raw
          : x.f.kind === "select" && x.f.number ? (raw === "" ? null : Number(raw)) : raw.trim();
      }
      return v;
    }
    // The API's error body in plain words; 422 field errors also go next to their fields.
    function explain(e, v) {
      const d = (e && e.body) || {};
      const errors = e.status === 422 && d.details && Array.isArray(d.details.errors) ? d.details.errors : null;
      if (errors) {
        return [". Please correct:", errors.map(x => {
          const name = (x.loc || []).slice(-1)[0];
          const fx = by[name];
          const text = x.type === "missing" || /at least 1 character/.test(x.msg || "") ? "is required"
            : x.type === "string_pattern_mismatch" && fx && fx.f.pattern ? fx.f.pattern
            : String(x.msg || "is not valid").replace(/^(String|Input|Value|List) should/, "should").replace(/^Value error, /, "");
          if (!fx) return `${name || "request"}: ${text}`;
          fx.err.textContent = text; fx.err.hidden = false; fx.input.setAttribute("aria-invalid", "true");
          return `${fx.label.textContent}: ${text}`;
        })];
      }
      if (e.reason) return [": " + e.reason];
      if (e.status === 409) {  // details.kind says which: a duplicate or a reference gone
        const kind = (d.details || {}).kind;
        if (kind === "duplicate" && spec.duplicate) return [": " + spec.duplicate(v || {})];
        if (kind === "unknown_reference" && spec.missingRef) return [": " + spec.missingRef(v || {})];
        return [": " + spec.conflict(v || {}, item != null)];
      }
      if (e.status === 404) return [`: this ${spec.what} no longer exists (someone may have deleted it). The list was reloaded; what you typed is kept.`];
      if (PLAIN[d.error_id]) return [": " + PLAIN[d.error_id]];
      if (e.status === 403) return [": only admins may do this."];
      if (!e.status) return [`: the server could not be reached (${e.message}).`];
      return [`: ${e.message}.`];
    }
    function fail(e, v, head) {
      clearMessages();
      const [rest, list] = explain(e, v);
      errBox.replaceChildren(h("p", { text: (e.partial || head || "Not saved") + rest }));
      if (list) errBox.append(h("ul", {}, list.map(t => h("li", { text: t }))));
      errBox.hidden = false;
      const bad = form.querySelector("[aria-invalid=true]");
      if (bad) bad.focus();
      if (e.status === 404 || e.status === 409 || e.partial) spec.reload().catch(x => say(x.message));
    }
    function ok(msg) { clearMessages(); okBox.textContent = msg; }
    async function submit() {
      if (busy) return;
      busy = true; save.disabled = true;
      clearMessages();
      const v = values(), was = item;
      try {
        const res = was ? await spec.update(was, v) : await spec.create(v);
        await spec.reload().catch(x => say(x.message));
        if (was) self.edit(res); else self.reset();
        ok(spec.saved(res, !was, v, was));
      } catch (e) {
        if (e.created) { item = e.created; mode(); }  // created, but a second step failed: now editing it
        else if (e.status === 404 && was) { item = null; mode(); }
        fail(e, v);
      } finally { busy = false; save.disabled = false; }
    }
    async function remove() {
      const it = item;
      if (!it || busy || !window.confirm(spec.confirmRemove(it))) return;
      busy = true;
      try {
        await spec.remove(it);
        await spec.reload().catch(x => say(x.message));
        self.reset(); ok(spec.removed(it)); self.focus();
      } catch (e) { fail(e, null, "Not deleted"); }
      finally { busy = false; }
    }
    const self = {
      el: form, fields: by,
      get item() { return item; },
      edit(it) { item = it; clearMessages(); fill(it); mode(); },
      reset() { item = null; clearMessages(); fill(null); mode(); },
      refresh() {  // new option lists after a reload; what is typed or chosen stays
        for (const x of fields) if (x.f.kind === "select") x.options(x.input.value);
        if (spec.extra) spec.extra.refresh();
        mode();
      },
      focus() { const x = fields.find(y => !y.input.disabled && !y.wrap.hidden); if (x) x.input.focus(); },
      ok, fail,
    };
    self.reset();
    return self;
  }

  const adminTable = (id, heads, rows) => h("table", { id },
    h("thead", {}, h("tr", {}, heads.map(t => h("th", { text: t })))), h("tbody", {}, rows));
  const editButton = (form, it, what) => h("button", { type: "button", text: "Edit", "aria-label": "Edit " + what,
    onclick: () => { form.edit(it); form.focus(); } });
  const adminLayout = (form, ...list) => h("div", { class: "admin" }, form.el, h("section", { class: "admin-list" }, list));

  async function teamsTab() {
    const list = h("div");
    const render = () => list.replaceChildren(
      h("p", { class: "muted", text: `${dir.teams.length} teams` }),
      adminTable("teams-table", ["Team", "Lead", "Operators", ""], dir.teams.map(t => h("tr", { "data-id": t.id },
        h("td", { text: t.name }), h("td", { text: opName(t.lead_id) || "—" }),
        h("td", { text: String(dir.operators.filter(o => o.team_id === t.id).length) }),
        h("td", {}, editButton(form, t, "team " + t.name))))));
    const reload = async () => { await loadDirectory(); render(); form.refresh(); };
    const form = adminForm({
      id: "team-form", what: "team", list: "teams-table", reload,
      fields: [
        { name: "name", label: "Name", max: 100 },
        { name: "lead_id", label: "Team lead", kind: "select", number: true, options: opOptions },
      ],
      title: t => `Edit team ${t.name}`,
      create: v => api("/api/admin/teams", { method: "POST", body: v }),
      update: (t, v) => api("/api/admin/teams/" + t.id, { method: "PATCH", body: v }),
      remove: t => api("/api/admin/teams/" + t.id, { method: "DELETE" }),
      confirmRemove: t => `Delete team “${t.name}”? Its operators stay, without a team.`,
      conflict: v => `a team named “${v.name}” already exists, or the chosen lead no longer exists.`,
      duplicate: v => `a team named “${v.name}” already exists.`,
      missingRef: () => "the chosen lead no longer exists; the lists were reloaded.",
      saved: (t, created) => `Team “${t.name}” ${created ? "created" : "saved"}.`,
      removed: t => `Team “${t.name}” deleted.`,
    });
    await reload();
    return adminLayout(form, list);
  }

  // Backups of one operator, in ring order: add, move up/down, remove (saved with the form).
  function backupsEditor() {
    let ids = [], selfId = null;
    const list = h("ol", { class: "backups", id: "op-backups" });
    const none = h("p", { class: "muted", text: "No backups." });
    const choose = h("select", { id: "op-backup-choose" });
    const add = h("button", { type: "button", id: "op-backup-add", text: "Add", onclick: () => {
      if (choose.value) { ids.push(Number(choose.value)); draw(); }
      choose.focus();
    } });
    function move(i, d, cls) {
      [ids[i], ids[i + d]] = [ids[i + d], ids[i]];
      draw();
      const li = list.children[i + d], b = li.querySelector(cls);
      (b.disabled ? li.querySelector("button:not([disabled])") : b).focus();
    }
    function draw() {
      list.replaceChildren(...ids.map((id, i) => h("li", {},
        h("span", { class: "who", text: opName(id) }),
        h("button", { type: "button", class: "up", text: "↑", title: "Ring earlier", "aria-label": `Move ${opName(id)} up`,
          disabled: i === 0, onclick: () => move(i, -1, ".up") }),
        h("button", { type: "button", class: "down", text: "↓", title: "Ring later", "aria-label": `Move ${opName(id)} down`,
          disabled: i === ids.length - 1, onclick: () => move(i, 1, ".down") }),
        h("button", { type: "button", class: "remove", text: "Remove", "aria-label": `Remove backup ${opName(id)}`, onclick: () => {
          ids.splice(i, 1); draw();
          const next = list.children[Math.min(i, ids.length - 1)];
          (next ? next.querySelector(".remove") : choose).focus();
        } }))));
      none.hidden = ids.length > 0;
      const value = choose.value;
      choose.replaceChildren(h("option", { value: "", text: "— choose an operator —" }),
        ...dir.operators.filter(o => o.id !== selfId && !ids.includes(o.id))
          .map(o => h("option", { value: o.id, text: `${o.name} (${o.extension})` })));
      choose.value = value;
      if (choose.value !== value) choose.value = "";
    }
    return {
      el: h("fieldset", { class: "backups" }, h("legend", { text: "Backups, in ring order" }), list, none,
        h("div", { class: "field" }, h("label", { for: choose.id, text: "Add a backup" }),
          h("div", { class: "actions" }, choose, add))),
      set(it) { selfId = it ? it.id : null; ids = it ? [...it.backup_ids] : []; draw(); },
      setSelf(id) { selfId = id; draw(); },
      refresh() { ids = ids.filter(id => dir.operators.some(o => o.id === id)); draw(); },
      get ids() { return [...ids]; },
    };
  }

  async function operatorsTab() {
    const ROLE = { manager: "Manager", team_lead: "Team lead" };
    const backups = backupsEditor();
    const list = h("div");
    const render = () => list.replaceChildren(
      h("p", { class: "muted", text: `${dir.operators.length} operators` }),
      adminTable("operators-table", ["Ext.", "Name", "Role", "Team", "Active", "Backups", ""], dir.operators.map(o => h("tr", { "data-id": o.id },
        h("td", { text: o.extension }), h("td", { text: o.name }), h("td", { text: ROLE[o.role] || o.role }),
        h("td", { text: teamName(o.team_id) || "—" }),
        h("td", {}, o.active ? "yes" : h("span", { class: "tag off", text: "inactive" })),
        h("td", { text: o.backup_ids.map(opName).join(" → ") || "—" }),
        h("td", {}, editButton(form, o, `operator ${o.name}`))))));
    const reload = async () => { await loadDirectory(); render(); form.refresh(); };
    const putBackups = async id => {
      try { return await api(`/api/admin/operators/${id}/backups`, { method: "PUT", body: { backup_ids: backups.ids } }); }
      catch (e) { if (e.status === 409) e.reason = "a chosen backup no longer exists; the lists were reloaded."; throw e; }
    };
    const form = adminForm({
      id: "operator-form", what: "operator", list: "operators-table", reload, extra: backups,
      fields: [
        { name: "name", label: "Name", max: 200, pattern: "must not contain ; [ ] \" \\ or line breaks" },
        { name: "extension", label: "Extension", createOnly: true, inputmode: "numeric", max: 10,
          hint: e => e ? "The extension cannot be changed." : "2 to 10 digits.", pattern: "must be 2 to 10 digits" },
        { name: "sip_password", label: e => e ? "New SIP password" : "SIP password", kind: "password",
          autocomplete: "new-password", max: 128,
          hint: e => (e ? "Leave empty to keep the current one. " : "") + "12 to 128 letters, digits or _ . ~ + -; it is never shown again.",
          pattern: "may only contain letters, digits and _ . ~ + -" },
        { name: "role", label: "Role", kind: "select", options: () => Object.entries(ROLE), initial: "manager" },
        { name: "team_id", label: "Team", kind: "select", number: true, options: teamOptions },
        { name: "active", label: "Active (takes calls)", kind: "checkbox", initial: true },
      ],
      onMode: o => backups.setSelf(o ? o.id : null),
      title: o => `Edit operator ${o.name} (${o.extension})`,
      create: async v => {
        const op = await api("/api/admin/operators", { method: "POST", body: v });
        if (!backups.ids.length) return op;
        try { return await putBackups(op.id); }
        catch (e) { e.created = op; e.partial = `Operator ${op.extension} was created, but its backups were not saved`; throw e; }
      },
      update: async (o, v) => {
        const body = { name: v.name, role: v.role, team_id: v.team_id, active: v.active };
        if (v.sip_password) body.sip_password = v.sip_password;
        let res = await api("/api/admin/operators/" + o.id, { method: "PATCH", body });
        if (backups.ids.join() !== o.backup_ids.join()) {
          try { res = await putBackups(o.id); }
          catch (e) { e.partial = "The other changes were saved, but the backups were not"; throw e; }
        }
        return res;
      },
      remove: o => api("/api/admin/operators/" + o.id, { method: "DELETE" }),
      confirmRemove: o => `Delete operator ${o.name} (${o.extension})? It is also removed as a backup, team lead and personal manager, and its operator web user is deactivated.`,
      conflict: (v, editing) => editing ? "the chosen team no longer exists; the lists were reloaded."
        : `another operator already has extension ${v.extension}, or the chosen team no longer exists.`,
      duplicate: v => `another operator already has extension ${v.extension}.`,
      missingRef: () => "the chosen team no longer exists; the lists were reloaded.",
      saved: (o, created, v) => `Operator ${o.name} (${o.extension}) ${created ? "created" : "saved"}` +
        (!created && v.sip_password ? "; new SIP password set." : "."),
      removed: o => `Operator ${o.name} (${o.extension}) deleted.`,
    });
    await reload();
    return adminLayout(form, list);
  }

  async function callersTab() {
    const LIMIT = 200;
    let items = [];
    const list = h("div");
    const q = h("input", { id: "caller-q", name: "q", type: "search", maxlength: 100, value: callerQuery, autocomplete: "off" });
    const search = h("form", { class: "filters", id: "caller-search", role: "search", onsubmit: ev => {
      ev.preventDefault(); callerQuery = q.value.trim(); reload().catch(e => say(e.message));
    } }, h("label", {}, "Number or name contains", q), h("button", { class: "primary", type: "submit", id: "caller-search-go", text: "Search" }));
    const render = () => list.replaceChildren(
      h("p", { class: "muted", id: "callers-count", text: (callerQuery ? `${items.length} callers match “${callerQuery}”` : `${items.length} callers`) +
        (items.length >= LIMIT ? `; only the first ${LIMIT} are shown, search to narrow down` : "") }),
      adminTable("callers-table", ["Number", "Name", "VIP", "Personal manager", "Language", ""], items.map(c => h("tr", { "data-id": c.id },
        h("td", { text: c.number }), h("td", { text: c.name }),
        h("td", {}, c.vip ? h("span", { class: "tag vip", text: "VIP" }) : null),
        h("td", { text: opName(c.personal_manager_id) || "—" }), h("td", { text: c.language || "" }),
        h("td", {}, editButton(form, c, `caller ${c.name}`))))));
    const reload = async () => {
      const p = new URLSearchParams({ limit: String(LIMIT) });
      if (callerQuery) p.set("q", callerQuery);
      [items] = await Promise.all([api("/api/admin/callers?" + p), loadDirectory()]);
      render(); form.refresh();
    };
    const body = v => ({ name: v.name, vip: v.vip, personal_manager_id: v.personal_manager_id, language: v.language || null });
    const form = adminForm({
      id: "caller-form", what: "known caller", list: "callers-table", reload,
      fields: [
        { name: "number", label: "Phone number", createOnly: true, inputmode: "tel", max: 24,
          hint: e => e ? "The number cannot be changed." : "International format, e.g. +79001234567.",
          pattern: "must be in international format: + and country code, e.g. +79001234567" },
        { name: "name", label: "Name", max: 200 },
        { name: "vip", label: "VIP", kind: "checkbox", initial: false },
        { name: "personal_manager_id", label: "Personal manager", kind: "select", number: true, options: opOptions },
        { name: "language", label: "Language", max: 5, hint: "Optional, e.g. ru or en-US.", pattern: "must look like ru or en-US" },
      ],
      title: c => `Edit known caller ${c.number}`,
      create: v => api("/api/admin/callers", { method: "POST", body: { number: v.number.replace(/[\s()-]/g, ""), ...body(v) } }),
      update: (c, v) => api("/api/admin/callers/" + c.id, { method: "PATCH", body: body(v) }),
      remove: c => api("/api/admin/callers/" + c.id, { method: "DELETE" }),
      confirmRemove: c => `Delete known caller ${c.name} (${c.number})? Past calls are kept.`,
      conflict: (v, editing) => editing ? "the chosen personal manager no longer exists; the lists were reloaded."
        : `a known caller with number ${v.number} already exists, or the chosen personal manager no longer exists.`,
      duplicate: v => `a known caller with number ${v.number} already exists.`,
      missingRef: () => "the chosen personal manager no longer exists; the lists were reloaded.",
      saved: (c, created) => `Known caller ${c.name} (${c.number}) ${created ? "created" : "saved"}.`,
      removed: c => `Known caller ${c.name} (${c.number}) deleted.`,
    });
    await reload();
    return adminLayout(form, search, list);
  }

  async function usersTab() {
    const ROLES = [["admin", "Admin"], ["qa", "QA"], ["team_lead", "Team lead"], ["operator", "Operator"]];
    const linked = r => r === "operator" || r === "team_lead";  // their phone: backoffice.models.LINKED_ROLES
    const roleName = r => (ROLES.find(x => x[0] === r) || [r, r])[1];
    let users = [];
    const list = h("div");
    const setActive = async (u, active) => {
      try {
        await api("/api/admin/users/" + u.id, { method: "PATCH", body: { active } });
        await reload();
        form.ok(active ? `User ${u.username} can log in again.` : `User ${u.username} deactivated; their sessions were ended.`);
        const b = document.getElementById(`user-${u.id}-active`);
        if (b) b.focus();
      } catch (e) { form.fail(e, null, "Not changed"); }
    };
    const render = () => list.replaceChildren(
      h("p", { class: "muted", text: `${users.length} users` }),
      adminTable("users-table", ["User", "Role", "Linked operator", "Active", ""], users.map(u => h("tr", { "data-id": u.id, class: u.active ? null : "inactive" },
        h("td", {}, u.username, u.id === me.id ? h("span", { class: "muted", text: " (you)" }) : null),
        h("td", { text: roleName(u.role) }),
        h("td", { text: u.operator_id != null ? opName(u.operator_id) : linked(u.role) ? "not linked" : "—" }),
        h("td", {}, u.active ? "yes" : h("span", { class: "tag off", text: "deactivated" })),
        h("td", { class: "row-actions" }, editButton(form, u, "user " + u.username),
          h("button", { type: "button", id: `user-${u.id}-active`, text: u.active ? "Deactivate" : "Reactivate",
            "aria-label": `${u.active ? "Deactivate" : "Reactivate"} ${u.username}`, disabled: u.id === me.id,
            title: u.id === me.id ? "You cannot deactivate yourself" : null, onclick: () => setActive(u, !u.active) }))))));
    const reload = async () => { [users] = await Promise.all([api("/api/admin/users"), loadDirectory()]); render(); form.refresh(); };
    const syncRole = f => { f.fields.operator_id.wrap.hidden = !linked(f.fields.role.input.value); };
    const form = adminForm({
      id: "user-form", what: "user", list: "users-table", reload,
      fields: [
        { name: "username", label: "User name", createOnly: true, max: 64,
          hint: e => e ? "The user name cannot be changed." : "2 to 64 characters: a–z, 0–9 and _ . -",
          pattern: "may only contain 2 to 64 lowercase letters, digits and _ . -" },
        { name: "password", label: e => e ? "New password" : "Password", kind: "password", autocomplete: "new-password", max: 256,
          hint: e => e ? "Leave empty to keep it. A new password ends the user's open sessions." : "At least 12 characters." },
        { name: "role", label: "Role", kind: "select", options: () => ROLES, initial: "qa" },
        { name: "operator_id", label: "Linked operator", kind: "select", number: true, options: opOptions,
          hint: "Required for the operator and team lead roles: their phone (an operator sees this operator's calls; a team lead's click-to-call rings it)." },
      ],
      onMode: (u, f) => syncRole(f),
      title: u => `Edit user ${u.username}`,
      create: v => api("/api/admin/users", { method: "POST", body: {
        username: v.username, password: v.password, role: v.role, operator_id: linked(v.role) ? v.operator_id : null } }),
      update: (u, v) => {
        const patch = {};  // only what changed: a new role or password ends the user's sessions
        if (v.role !== u.role) patch.role = v.role;
        const op = linked(v.role) ? v.operator_id : null;
        if (op !== u.operator_id) patch.operator_id = op;
        if (v.password) patch.password = v.password;
        return api("/api/admin/users/" + u.id, { method: "PATCH", body: patch });
      },
      conflict: (v, editing) => editing ? "the chosen operator no longer exists; the lists were reloaded."
        : `the user name “${v.username}” is taken, or the chosen operator no longer exists.`,
      duplicate: v => `the user name “${v.username}” is taken.`,
      missingRef: () => "the chosen operator no longer exists; the lists were reloaded.",
      saved: (u, created, v, was) => `User ${u.username} ${created ? "created" : "saved"}` +
        (was && (v.password || v.role !== was.role) ? "; their open sessions were ended." : "."),
    });
    form.fields.role.input.addEventListener("change", () => syncRole(form));
    await reload();
    return adminLayout(form, list);
  }

  const ADMIN = { teams: teamsTab, operators: operatorsTab, callers: callersTab, users: usersTab };
  async function adminPage(tab) {
    if (!ADMIN[tab]) return go("#/admin/teams");
    const body = await ADMIN[tab]();
    main.replaceChildren(h("h1", { text: "Admin" }),
      h("nav", { class: "tabs", "aria-label": "Admin sections" }, ADMIN_TABS.map(([k, t]) =>
        h("a", { href: "#/admin/" + k, id: "tab-" + k, "aria-current": k === tab ? "page" : null, text: t }))),
      body);
  }

  // ---- routing
  async function route() {
    if (timer) { clearInterval(timer); timer = null; }
    const hash = location.hash || "#/calls";
    const path = hash.split("?")[0];
    if (path === "#/login") return loginPage();
    if (!me) {
      try { me = await api("/api/auth/me"); } catch (e) { return; }
    }
    const top = document.getElementById("top");
    top.hidden = false;
    document.getElementById("who").textContent = `${me.username} (${me.role})`;
    for (const a of top.querySelectorAll("nav a")) {
      a.hidden = !a.dataset.roles.split(" ").includes(me.role);
      a.classList.toggle("active", path.startsWith(a.getAttribute("href")));
    }
    say("");
    try {
      if (path === "#/calls") await callsPage();
      else if (path.startsWith("#/call/")) await callPage(path.slice(7));
      else if (path === "#/reviews") await reviewsPage();
      else if (path === "#/stats") await statsPage();
      else if (path === "#/wallboard") await wallboardPage();
      else if (path === "#/screenpop") await screenpopPage();
      else if ((path === "#/admin" || path.startsWith("#/admin/")) && me.role === "admin") await adminPage(path.slice(8));
      else go(home());
      main.dataset.page = path;
    } catch (e) { say(e.message); }
  }

  document.getElementById("logout").addEventListener("click", async () => {
    try { await api("/api/auth/logout", { method: "POST" }); } catch (e) { /* already out */ }
    me = null; lookups = null; go("#/login");
  });

  document.addEventListener("keydown", ev => {
    const t = ev.target;
    const typing = t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const help = document.getElementById("help");
    if (typing) { if (ev.key === "Escape") t.blur(); return; }
    if (ev.key === "?") { help.open ? help.close() : help.showModal(); return; }
    if (!me) return;
    const link = document.querySelector(`header nav a[data-key="${CSS.escape(ev.key)}"]:not([hidden])`);
    if (link) { ev.preventDefault(); go(link.getAttribute("href")); return; }
    if (ev.key === "/") { const f = main.querySelector("form.filters input, form.filters select"); if (f) { ev.preventDefault(); f.focus(); } return; }
    if (ev.key === "j") return selectRow(selectedIndex() + 1);
    if (ev.key === "k") return selectRow(selectedIndex() - 1);
    if (ev.key === "Enter") { const r = main.querySelector("tr.sel[data-href]"); if (r) go(r.dataset.href); return; }
    if (ev.key === " ") { const a = main.querySelector("audio"); if (a) { ev.preventDefault(); a.paused ? a.play() : a.pause(); } }
  });

  window.addEventListener("hashchange", route);
  route();
})();
