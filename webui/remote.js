// Bootbox web UI, remote control: the "Remote" page with the remote command
// dialog (targets, command builder from LINBO's grammar, validation before
// run, direct vs on-boot, Wake-on-LAN), live per-host job progress, the
// pending on-boot files and the schedules. Loaded before app.js, which calls
// the function registered here with its helpers once the page chrome exists.
"use strict";
(window.BootboxExt = window.BootboxExt || []).push(function (ui) {
const { h, field, select, msg, api, table, action, fmtTime, t, T, PAGE, main, listeners, pages } = ui;
Object.assign(T.en, {
  remote: "Remote", rc_title: "Remote command", rc_open: "Remote command…", rc_target: "Target", rc_kind: "Target kind",
  rc_room: "Room", rc_group: "Group", rc_hosts: "Hosts", rc_hosts_pick: "Hosts (select one or more)", rc_cmd: "Command",
  rc_n: "Number (N): OS or partition in start.conf", rc_add: "Add command", rc_commands: "Command list (comma-separated)",
  rc_mode: "Delivery", rc_direct: "Direct – now over SSH (the PCs must be running LINBO)", rc_onboot: "On boot – run once at the next start",
  rc_noauto: "noauto – skip automatic partitioning, formatting and start at the next boot", rc_disablegui: "disablegui – no LINBO GUI at the next boot",
  rc_wake: "Wake the PCs first (Wake-on-LAN)", rc_wait: "Wait after waking (seconds)", rc_batch: "PCs per batch", rc_gap: "Pause between batches (seconds)",
  rc_check: "Check", rc_run: "Run", rc_close: "Close", rc_valid: "The command list is valid for {n} PC(s).", rc_skipped: "Skipped",
  rc_started: "Job {id} started.", jobs: "Jobs", job: "Job", started: "Started", finished: "Finished", running: "running", status: "Status",
  woken: "Woken", online: "Online", commands: "Commands", show: "Show", onboot_list: "Scheduled commands (on boot)", select_host: "Select {h}",
  delete_selected: "Delete selected", delete_all: "Delete all", schedules: "Schedules", cron: "When (cron)", tz: "Time zone", target: "Target",
  enabled: "enabled", disabled: "disabled", enable: "Enable", disable: "Disable", next_run: "Next run", history: "History", outcome: "Outcome",
  summary: "Summary", failed_hosts: "Failed PCs", yes: "yes", no: "no", deleted: "Deleted.",
  s_pending: "pending", s_woken: "woken", s_running: "running", s_scheduled: "scheduled", s_done: "done", s_failed: "failed",
  s_timed_out: "timed out", s_offline: "offline", s_not_picked_up: "not picked up",
  mail: "E-mail when a scheduled run fails", mail_on: "Send e-mails", smtp_host: "SMTP server", smtp_port: "Port", smtp_sec: "Connection security",
  sec_starttls: "STARTTLS (required)", sec_none: "None (trusted relay only)", mail_from: "Sender address", mail_to: "Recipients (comma-separated)",
  sched_save: "Save as schedule instead", sched_name: "Schedule name (a-z, 0-9, -)", sched_cron: "When (cron: minute hour day month weekday, e.g. 30 18 * * mon,wed)",
  sched_tz: "Time zone (e.g. Europe/Berlin; empty: the box's)", sched_btn: "Save schedule", sched_saved: "Schedule {n} saved.",
  smtp_user: "User name (optional, for SMTP AUTH)", smtp_pw: "Password", pw_kept: "stored – leave empty to keep", mail_test: "Send test mail", mail_sent: "Test mail sent.",
});
Object.assign(T.de, {
  remote: "Fernsteuerung", rc_title: "Fernbefehl", rc_open: "Fernbefehl…", rc_target: "Ziel", rc_kind: "Art des Ziels",
  rc_room: "Raum", rc_group: "Gruppe", rc_hosts: "Rechner", rc_hosts_pick: "Rechner (einen oder mehrere wählen)", rc_cmd: "Befehl",
  rc_n: "Nummer (N): Betriebssystem oder Partition in der start.conf", rc_add: "Befehl hinzufügen", rc_commands: "Befehlsliste (durch Komma getrennt)",
  rc_mode: "Ausführung", rc_direct: "Direkt – jetzt über SSH (die PCs müssen LINBO laufen haben)", rc_onboot: "Beim Start – einmal beim nächsten Hochfahren",
  rc_noauto: "noauto – beim nächsten Start nicht automatisch partitionieren, formatieren und starten", rc_disablegui: "disablegui – beim nächsten Start keine LINBO-Oberfläche",
  rc_wake: "PCs zuerst aufwecken (Wake-on-LAN)", rc_wait: "Wartezeit nach dem Wecken (Sekunden)", rc_batch: "PCs pro Gruppe", rc_gap: "Pause zwischen den Gruppen (Sekunden)",
  rc_check: "Prüfen", rc_run: "Ausführen", rc_close: "Schließen", rc_valid: "Die Befehlsliste ist für {n} PC(s) gültig.", rc_skipped: "Übersprungen",
  rc_started: "Auftrag {id} gestartet.", jobs: "Aufträge", job: "Auftrag", started: "Gestartet", finished: "Beendet", running: "läuft", status: "Status",
  woken: "Geweckt", online: "Erreichbar", commands: "Befehle", show: "Anzeigen", onboot_list: "Geplante Befehle (beim Start)", select_host: "{h} auswählen",
  delete_selected: "Ausgewählte löschen", delete_all: "Alle löschen", schedules: "Zeitpläne", cron: "Wann (cron)", tz: "Zeitzone", target: "Ziel",
  enabled: "aktiv", disabled: "inaktiv", enable: "Aktivieren", disable: "Deaktivieren", next_run: "Nächster Lauf", history: "Verlauf", outcome: "Ergebnis",
  summary: "Zusammenfassung", failed_hosts: "Fehlgeschlagene PCs", yes: "ja", no: "nein", deleted: "Gelöscht.",
  s_pending: "wartet", s_woken: "geweckt", s_running: "läuft", s_scheduled: "geplant", s_done: "fertig", s_failed: "fehlgeschlagen",
  s_timed_out: "Zeit überschritten", s_offline: "nicht erreichbar", s_not_picked_up: "nicht abgeholt",
  mail: "E-Mail, wenn ein geplanter Lauf fehlschlägt", mail_on: "E-Mails senden", smtp_host: "SMTP-Server", smtp_port: "Port", smtp_sec: "Verbindungssicherheit",
  sec_starttls: "STARTTLS (erforderlich)", sec_none: "Keine (nur vertrauenswürdiges Relay)", mail_from: "Absenderadresse", mail_to: "Empfänger (durch Komma getrennt)",
  sched_save: "Stattdessen als Zeitplan speichern", sched_name: "Name des Zeitplans (a-z, 0-9, -)", sched_cron: "Wann (cron: Minute Stunde Tag Monat Wochentag, z. B. 30 18 * * mon,wed)",
  sched_tz: "Zeitzone (z. B. Europe/Berlin; leer: die der Box)", sched_btn: "Zeitplan speichern", sched_saved: "Zeitplan {n} gespeichert.",
  smtp_user: "Benutzername (optional, für SMTP AUTH)", smtp_pw: "Passwort", pw_kept: "gespeichert – leer lassen zum Beibehalten", mail_test: "Test-Mail senden", mail_sent: "Test-Mail gesendet.",
});
const nav = document.getElementById("nav");
if (document.body.dataset.user && nav) nav.append(h("a", { href: "/remote", "aria-current": PAGE === "remote" ? "page" : null }, t("remote")));
if (PAGE === "remote") document.title = "Bootbox – " + t("remote");

// The linbo-remote grammar: [command, takes N?]
const GRAMMAR = [["partition", false], ["format", false], ["format:N", true], ["label", false], ["initcache", false],
  ["sync:N", true], ["new:N", true], ["postsync:N", true], ["start:N", true], ["create_image:N", true], ["create_qdiff:N", true],
  ["upload_image:N", true], ["upload_qdiff:N", true], ["reboot", false], ["halt", false], ["poweroff", false]];
const status = s => t("s_" + s);
const targetText = tg => tg.kind + " " + (Array.isArray(tg.names) ? tg.names.join(",") : tg.names);

// ----- the remote command dialog -------------------------------------------------
function dialog(hosts, onStarted) {
  const rooms = [...new Set(hosts.map(x => x.room))].sort(), groups = [...new Set(hosts.map(x => x.group))].sort();
  const [wk, kind] = select(t("rc_kind"), [["room", t("rc_room")], ["group", t("rc_group")], ["hosts", t("rc_hosts")]], "room", { id: "rc-kind" });
  const [wr, room] = select(t("rc_room"), rooms.map(r => [r, r]), rooms[0], { id: "rc-room" });
  const [wg, group] = select(t("rc_group"), groups.map(g => [g, g]), groups[0], { id: "rc-group" });
  const [wh, hostSel] = select(t("rc_hosts_pick"), hosts.filter(x => x.pxe === 1 || x.pxe === 2).map(x => [x.hostname, x.hostname + " (" + x.room + ")"]), null, { id: "rc-hosts", multiple: true, size: "6" });
  const [wc, cmd] = select(t("rc_cmd"), GRAMMAR.map(([c]) => [c, c]), "sync:N", { id: "rc-cmd" });
  const [wn, n] = field(t("rc_n"), { id: "rc-n", type: "number", min: "1", value: "1", inputmode: "numeric" });
  const add = h("button", { type: "button", class: "sec", id: "rc-add" }, t("rc_add"));
  const [wl, list] = field(t("rc_commands"), { id: "rc-commands", spellcheck: "false", autocomplete: "off", placeholder: "sync:1,start:1", "aria-describedby": "rc-errors" });
  const mode = h("fieldset", { class: "radio" }, h("legend", {}, t("rc_mode")));
  const direct = h("input", { type: "radio", name: "rc-mode", id: "rc-direct", value: "direct", checked: true });
  const onboot = h("input", { type: "radio", name: "rc-mode", id: "rc-onboot", value: "onboot" });
  mode.append(h("div", {}, direct, h("label", { for: "rc-direct" }, t("rc_direct"))), h("div", {}, onboot, h("label", { for: "rc-onboot" }, t("rc_onboot"))));
  const noauto = h("input", { type: "checkbox", id: "rc-noauto" }), nogui = h("input", { type: "checkbox", id: "rc-disablegui" });
  const flags = h("div", { id: "rc-flags", hidden: true }, h("div", {}, noauto, " ", h("label", { class: "inline", for: "rc-noauto" }, t("rc_noauto"))),
    h("div", {}, nogui, " ", h("label", { class: "inline", for: "rc-disablegui" }, t("rc_disablegui"))));
  const wake = h("input", { type: "checkbox", id: "rc-wake" });
  const [ww, wait] = field(t("rc_wait"), { id: "rc-wait", type: "number", min: "0", value: "60", inputmode: "numeric" });
  const [wb, batch] = field(t("rc_batch"), { id: "rc-batch", type: "number", min: "1", value: "1", inputmode: "numeric" });
  const [wgp, gap] = field(t("rc_gap"), { id: "rc-gap", type: "number", min: "0", value: "1", inputmode: "numeric" });
  const wakeBox = h("div", { class: "row", hidden: true }, ww, wb, wgp);
  const [wsn, sname] = field(t("sched_name"), { id: "rc-sched-name", autocomplete: "off" });
  const [wsc, scron] = field(t("sched_cron"), { id: "rc-sched-cron", spellcheck: "false", autocomplete: "off", value: "30 18 * * mon,wed" });
  const [wst, stz] = field(t("sched_tz"), { id: "rc-sched-tz", autocomplete: "off", value: "Europe/Berlin" });
  const ssave = h("button", { type: "button", class: "sec", id: "rc-sched-save" }, t("sched_btn"));
  const sched = h("details", { id: "rc-sched" }, h("summary", {}, t("sched_save")), wsn, wsc, wst, ssave);
  const errs = h("div", { id: "rc-errors", "aria-live": "polite" });
  const check = h("button", { type: "button", class: "sec", id: "rc-check" }, t("rc_check"));
  const run = h("button", { type: "submit", id: "rc-run" }, t("rc_run"));
  const close = h("button", { type: "button", class: "sec", id: "rc-close" }, t("rc_close"));
  const form = h("form", { method: "dialog" }, h("h2", { id: "rc-h" }, t("rc_title")),
    h("fieldset", {}, h("legend", {}, t("rc_target")), wk, wr, wg, wh),
    h("fieldset", {}, h("legend", {}, t("commands")), h("div", { class: "row" }, wc, wn), add, wl),
    mode, flags, h("div", {}, wake, " ", h("label", { class: "inline", for: "rc-wake" }, t("rc_wake"))), wakeBox, sched, errs, run, check, close);
  const dlg = h("dialog", { id: "rc-dialog", "aria-labelledby": "rc-h" }, form);
  function sync() {
    wr.hidden = kind.value !== "room"; wg.hidden = kind.value !== "group"; wh.hidden = kind.value !== "hosts";
    wn.hidden = !(GRAMMAR.find(([c]) => c === cmd.value) || [])[1];
    flags.hidden = !onboot.checked; wakeBox.hidden = !wake.checked;
  }
  [kind, cmd, direct, onboot, wake].forEach(x => x.addEventListener("change", sync));
  add.addEventListener("click", () => {
    const c = cmd.value.replace(":N", ":" + (parseInt(n.value, 10) || 1));
    list.value = list.value.trim() ? list.value.trim().replace(/,$/, "") + "," + c : c;
    later();
  });
  function request() {
    const names = kind.value === "room" ? room.value : kind.value === "group" ? group.value : [...hostSel.selectedOptions].map(o => o.value);
    const r = { target: { kind: kind.value, names }, commands: list.value.trim(), mode: onboot.checked ? "onboot" : "direct", noauto: noauto.checked, disablegui: nogui.checked };
    if (wake.checked) r.wake = { wait_s: parseInt(wait.value, 10) || 0, batch: parseInt(batch.value, 10) || 1, gap_ms: Math.round(1000 * (parseFloat(gap.value) || 0)) };
    return r;
  }
  function showErrors(text) {
    list.setAttribute("aria-invalid", text ? "true" : "false");
    if (!text) { errs.replaceChildren(); return; }
    errs.replaceChildren(h("div", { class: "msg err", role: "alert" }, h("ul", { id: "rc-error-list" }, text.split("; ").map(p => h("li", { class: "err" }, p)))));
  }
  async function validate() {
    try {
      const r = await api("POST", "/api/v1/remote/validate", request());
      showErrors("");
      errs.replaceChildren(h("p", { class: "ok", id: "rc-ok", role: "status" }, t("rc_valid").replace("{n}", r.hosts.length) +
        (r.skipped.length ? " " + t("rc_skipped") + ": " + r.skipped.map(s => s.host).join(", ") : "")));
      return true;
    } catch (e) { showErrors(e.message); return false; }
  }
  let timer;
  function later() { clearTimeout(timer); timer = setTimeout(validate, 300); }
  [kind, room, group, hostSel, direct, onboot, noauto, nogui].forEach(x => x.addEventListener("change", later));
  list.addEventListener("input", later);
  check.addEventListener("click", action(check, errs, validate));
  close.addEventListener("click", () => dlg.close());
  form.addEventListener("submit", action(run, errs, async () => {
    clearTimeout(timer);
    if (!(await validate())) { list.focus(); return; }
    const r = await api("POST", "/api/v1/remote/jobs", request());
    dlg.close();
    onStarted(r);
  }));
  ssave.addEventListener("click", action(ssave, errs, async () => {
    clearTimeout(timer);
    const r = request();
    try {
      await api("POST", "/api/v1/remote/schedules", { name: sname.value.trim(), cron: scron.value.trim(), timezone: stz.value.trim(), target: r.target,
        commands: r.commands, onboot: r.mode === "onboot", noauto: r.noauto, disablegui: r.disablegui, wake: r.wake || null, enabled: true });
    } catch (e) { showErrors(e.message); return; }
    dlg.close();
    onStarted({ schedule: sname.value.trim() });
  }));
  sync();
  return dlg;
}

// ----- the page -----------------------------------------------------------------------
async function pageRemote() {
  const hosts = await api("GET", "/api/v1/hosts");
  const out = h("div", { id: "rc-msg" });
  const jobsBox = h("div", { id: "jobs" }), detail = h("div", { id: "job-detail" });
  const onbootBox = h("div", { id: "onboot-list" }), onbootOut = h("div", {});
  const schedBox = h("div", { id: "schedules" }), histBox = h("div", { id: "schedule-history" }), schedOut = h("div", {});
  let current = null;
  const dlg = dialog(hosts, async r => {
    if (r.schedule) { msg(out, t("sched_saved").replace("{n}", r.schedule), true); await loadSchedules(); return; }
    msg(out, t("rc_started").replace("{id}", r.id), true);
    current = r.id;
    await Promise.all([loadJobs(), loadOnboot()]);
  });
  const open = h("button", { type: "button", id: "rc-open" }, t("rc_open"));
  open.addEventListener("click", () => { dlg.showModal(); document.getElementById("rc-commands").focus(); });
  main.append(h("h1", {}, t("remote")), open, out, dlg,
    h("section", { class: "card", "aria-labelledby": "jobs-h" }, h("h2", { id: "jobs-h" }, t("jobs")), jobsBox, detail),
    h("section", { class: "card", "aria-labelledby": "ob-h" }, h("h2", { id: "ob-h" }, t("onboot_list")), onbootBox, onbootOut),
    h("section", { class: "card", "aria-labelledby": "sc-h" }, h("h2", { id: "sc-h" }, t("schedules")), schedBox, histBox, schedOut));

  async function loadJobs() {
    const jobs = await api("GET", "/api/v1/remote/jobs");
    jobsBox.replaceChildren(jobs.length ? table([t("job"), t("target"), t("started"), t("status"), ""], jobs.slice(0, 20).map(j => {
      const counts = {};
      for (const x of j.hosts) counts[x.status] = (counts[x.status] || 0) + 1;
      const b = h("button", { type: "button", class: "sec", "data-job": j.id, "aria-label": t("show") + " " + t("job") + " " + j.id }, t("show"));
      b.addEventListener("click", () => { current = j.id; showJob(j); });
      return h("tr", {}, h("td", {}, "#" + j.id), h("td", { class: "mono" }, j.title), h("td", {}, fmtTime(j.started_ms)),
        h("td", {}, (j.finished_ms ? "" : t("running") + " – ") + Object.entries(counts).map(([s, c]) => c + " " + status(s)).join(", ")), h("td", {}, b));
    })) : h("p", {}, t("none")));
    if (current) { const j = jobs.find(x => x.id === current); if (j) showJob(j); }
  }
  function showJob(j) {
    detail.replaceChildren(h("h3", {}, t("job") + " #" + j.id + (j.finished_ms ? " – " + t("finished") + " " + fmtTime(j.finished_ms) : " – " + t("running"))),
      table([t("hostname"), t("status"), t("woken"), t("online"), t("commands"), t("error")], j.hosts.map(x => h("tr", { "data-host": x.host, "data-status": x.status },
        h("td", {}, x.host), h("td", { class: x.status === "done" ? "ok" : ["failed", "timed_out", "offline", "not_picked_up"].includes(x.status) ? "err" : "" }, status(x.status)),
        h("td", {}, x.woken ? t("yes") : "–"), h("td", {}, x.online === null ? "–" : x.online ? t("yes") : t("no")),
        h("td", { class: "mono" }, x.commands.map(c => c.command + " → " + (c.exit_code === null ? (c.timed_out ? "timeout" : "–") : c.exit_code)).join(", ")),
        h("td", {}, x.error || "")))));
  }
  async function loadOnboot() {
    const list = await api("GET", "/api/v1/remote/onboot");
    if (!list.length) { onbootBox.replaceChildren(h("p", { id: "onboot-empty" }, t("none"))); return; }
    const boxes = [];
    const rows = list.map(e => {
      const cb = h("input", { type: "checkbox", value: e.host, "aria-label": t("select_host").replace("{h}", e.host) });
      boxes.push(cb);
      const d = h("button", { type: "button", class: "danger", "data-delete": e.host, "aria-label": t("delete") + " " + e.host }, t("delete"));
      d.addEventListener("click", action(d, onbootOut, async () => { await api("DELETE", "/api/v1/remote/onboot/" + encodeURIComponent(e.host)); msg(onbootOut, t("deleted"), true); await loadOnboot(); }));
      return h("tr", { "data-host": e.host }, h("td", {}, cb), h("td", {}, e.host), h("td", { class: "mono" }, e.commands), h("td", {}, fmtTime(e.modified_ms)), h("td", {}, d));
    });
    const sel = h("button", { type: "button", class: "danger", id: "onboot-delete-selected" }, t("delete_selected"));
    sel.addEventListener("click", action(sel, onbootOut, async () => {
      const names = boxes.filter(b => b.checked).map(b => b.value);
      if (!names.length) return;
      await api("POST", "/api/v1/remote/onboot/delete", { hosts: names }); msg(onbootOut, t("deleted"), true); await loadOnboot();
    }));
    const all = h("button", { type: "button", class: "danger", id: "onboot-delete-all" }, t("delete_all"));
    all.addEventListener("click", action(all, onbootOut, async () => {
      if (!confirm(t("confirm"))) return;
      await api("POST", "/api/v1/remote/onboot/delete", { all: true }); msg(onbootOut, t("deleted"), true); await loadOnboot();
    }));
    onbootBox.replaceChildren(table(["", t("hostname"), t("commands"), t("time"), ""], rows), sel, all);
  }
  async function loadSchedules() {
    const list = await api("GET", "/api/v1/remote/schedules");
    schedBox.replaceChildren(list.length ? table([t("name"), t("cron"), t("target"), t("commands"), t("status"), t("next_run"), ""], list.map(s => {
      const tg = h("button", { type: "button", class: "sec", "data-toggle": s.name }, s.enabled ? t("disable") : t("enable"));
      tg.addEventListener("click", action(tg, schedOut, async () => { await api("PUT", "/api/v1/remote/schedules/" + encodeURIComponent(s.name) + "/enabled", { enabled: !s.enabled }); await loadSchedules(); }));
      const hi = h("button", { type: "button", class: "sec", "data-history": s.name }, t("history"));
      hi.addEventListener("click", action(hi, schedOut, async () => {
        const runs = await api("GET", "/api/v1/remote/schedules/" + encodeURIComponent(s.name) + "/runs");
        histBox.replaceChildren(h("h3", {}, t("history") + ": " + s.name), runs.length ? table([t("time"), t("outcome"), t("summary"), t("failed_hosts")],
          runs.map(r => h("tr", {}, h("td", {}, fmtTime(r.scheduled_ms)), h("td", {}, r.outcome), h("td", {}, r.summary), h("td", {}, (r.failed_hosts || []).join(", "))))) : h("p", {}, t("none")));
      }));
      return h("tr", {}, h("td", {}, s.name), h("td", { class: "mono" }, s.cron + (s.timezone ? " (" + s.timezone + ")" : "")), h("td", {}, targetText(s.target)),
        h("td", { class: "mono" }, (s.onboot ? "-p " : "-c ") + s.commands), h("td", {}, s.enabled ? t("enabled") : t("disabled")), h("td", {}, fmtTime(s.next_ms)), h("td", {}, tg, hi));
    })) : h("p", {}, t("none")));
  }
  async function mailForm() {
    const m = await api("GET", "/api/v1/remote/mail");
    const o = h("div", {});
    const on = h("input", { type: "checkbox", id: "mail-on", checked: m.enabled });
    const [wh, host] = field(t("smtp_host"), { id: "mail-host", value: m.host || "" });
    const [wp, port] = field(t("smtp_port"), { id: "mail-port", type: "number", min: "1", max: "65535", value: m.port || 587, inputmode: "numeric" });
    const [ws, sec] = select(t("smtp_sec"), [["starttls", t("sec_starttls")], ["none", t("sec_none")]], m.security || "starttls", { id: "mail-sec" });
    const [wf, from] = field(t("mail_from"), { id: "mail-from", type: "email", value: m.from || "" });
    const [wt, to] = field(t("mail_to"), { id: "mail-to", value: (m.to || []).join(", ") });
    const [wu, user] = field(t("smtp_user"), { id: "mail-user", autocomplete: "off", value: m.username || "" });
    const [wpw, pw] = field(t("smtp_pw"), { id: "mail-pw", type: "password", autocomplete: "new-password", placeholder: m.password_set ? t("pw_kept") : "" });
    const save = h("button", { type: "submit", id: "mail-save" }, t("save"));
    const test = h("button", { type: "button", class: "sec", id: "mail-test" }, t("mail_test"));
    const f = h("form", { class: "card", "aria-labelledby": "mail-h" }, h("h2", { id: "mail-h" }, t("mail")),
      h("div", {}, on, " ", h("label", { class: "inline", for: "mail-on" }, t("mail_on"))), h("div", { class: "row" }, wh, wp, ws), wf, wt, h("div", { class: "row" }, wu, wpw), save, test, o);
    f.addEventListener("submit", action(save, o, async () => {
      const body = { enabled: on.checked, host: host.value.trim(), port: parseInt(port.value, 10) || 0, security: sec.value, from: from.value.trim(),
        to: to.value.split(",").map(x => x.trim()).filter(Boolean), username: user.value.trim() || null };
      if (pw.value) body.password = pw.value;
      await api("PUT", "/api/v1/remote/mail", body); pw.value = ""; msg(o, t("saved"), true);
    }));
    test.addEventListener("click", action(test, o, async () => { await api("POST", "/api/v1/remote/mail/test"); msg(o, t("mail_sent"), true); }));
    main.append(f);
  }
  // Live progress: job events arrive on the event stream; the snapshot is read again.
  let pending = false;
  listeners.push(evs => {
    if (pending || !evs.some(e => (e.action || "").startsWith("remote."))) return;
    pending = true;
    setTimeout(() => { pending = false; loadJobs().catch(() => {}); loadOnboot().catch(() => {}); }, 200);
  });
  await Promise.all([loadJobs(), loadOnboot(), loadSchedules(), mailForm()]);
}
pages.remote = pageRemote;
});
