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
    if (!r.ok) throw new Error((data && data.message) || ("HTTP " + r.status));
    return data;
  }
  function go(hash) { if (location.hash !== hash) location.hash = hash; else route(); }
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
        go(me.role === "operator" ? "#/screenpop" : me.role === "admin" ? "#/wallboard" : "#/calls");
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
        card("Outcome", c.outcome || "—")),
      review,
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
        card("Abandonment", pct(t.abandonment)), card("Calls", num(t.calls))),
      h("div", { class: "grid2" }, dayPlot, opPlot),
      table("By operator", s.by_operator), table("By team", s.by_team), table("By intent", s.by_intent), table("By day", s.by_day));
  }

  async function wallboardPage() {
    const draw = async () => {
      const w = await api("/api/wallboard");
      const tiles = w.operators.map(o => h("div", { class: "tile " + o.presence },
        h("strong", { text: o.name }), h("div", { class: "muted", text: `${o.extension} · ${o.team || ""}` }), h("div", { text: o.presence.replace("_", " ") })));
      main.replaceChildren(h("h1", { text: "Wallboard" }),
        h("p", { class: "muted", text: Object.entries(w.presence_counts).map(([k, v]) => `${k}: ${v}`).join(" · ") + ` · updated ${new Date(w.at).toLocaleTimeString()}` }),
        h("div", { class: "tiles", id: "tiles" }, tiles),
        h("h2", { text: `Calls in progress (${w.calls.length})` }),
        h("table", { id: "live" }, h("tbody", {}, w.calls.map(c => h("tr", {},
          h("td", { text: c.caller_name || c.caller_number || "unknown" }), h("td", {}, c.vip ? h("span", { class: "tag vip", text: "VIP" }) : null),
          h("td", { text: c.state.replace("_", " ") }), h("td", { text: c.operator_name || "" }),
          h("td", { class: "num", text: Math.round(c.waiting_seconds) + " s" }))))));
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
      else go(me.role === "operator" ? "#/screenpop" : me.role === "admin" ? "#/wallboard" : "#/calls");
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
