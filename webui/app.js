// Bootbox web UI: draws each page from the REST API. No build step, no
// external assets. Texts in German and English (T below).
"use strict";
(function () {
const B = document.body, PAGE = B.dataset.page, LANG = document.documentElement.lang === "de" ? "de" : "en";
const CSRF = () => document.querySelector('meta[name="csrf"]').content;
const T = {
 en: {dashboard:"Dashboard",hosts:"Hosts",import:"Import",rooms:"Rooms",groups:"Groups",images:"Images",events:"Events",settings:"Settings",
  signout:"Sign out",signin:"Sign in",user:"User name",password:"Password",password2:"Repeat password",wizard:"Setup",
  w_admin:"Admin account",w_school:"School and network",w_files:"Boot files",w_csv:"Devices",w_enrol:"Central server",
  next:"Next",back:"Back",finish:"Finish setup",school_name:"School name",iface:"Network interface",server_ip:"Address of this box (IPv4)",
  dhcp:"DHCP mode",dhcp_proxy:"Proxy – recommended: your DHCP server keeps handing out addresses, Bootbox only adds boot information",
  dhcp_full:"Full DHCP – only for an isolated imaging network without another DHCP server",dhcp_off:"Off – Bootbox answers no DHCP at all",
  present:"present",missing:"missing",files_hint:"Bootbox needs linbo64 and linbofs64 in its LINBO folder to start LINBO on the PCs.",
  csv_hint:"Optional: paste your devices.csv (room;hostname;group;mac;ip;…). You can also import it later.",
  enrol_url:"Central server address (optional)",enrol_token:"Enrolment token (optional)",enrol_hint:"Leave both empty if your school has no central server.",
  pw_short:"The password must have at least 10 characters.",pw_mismatch:"The passwords do not match.",
  hosts_total:"Hosts",booted:"Booted",booting:"Booting / seen",never_seen:"Never seen",no_pxe:"No network boot",no_startconf:"Group without start.conf",
  recent:"Recent boots",disk:"Disk",img_bytes:"Images use",free:"Free",what_happens:"What happens when a PC boots",
  room:"Room",group:"Group",all:"all",search:"Search (name, MAC, IP)",hostname:"Host name",mac:"MAC",ip:"IP",pxe:"PXE",last:"Last boot step",
  edit:"Edit",save:"Save",cancel:"Cancel",delete:"Delete",add_host:"Add host",timeline:"Timeline",no_events:"Nothing recorded yet.",
  csv_file:"devices.csv file",csv_text:"devices.csv content",strategy:"Merge strategy",s_update:"update – add new, overwrite same host name, keep the rest",
  s_replace:"replace – the file is the truth, hosts not in it are removed",s_add:"add-only – only add new host names",
  dry:"Check (dry run)",do_import:"Import",line:"Line",problem:"Problem",text:"Text",nothing_imported:"Nothing was imported.",
  preview:"Preview",e_locked:"Too many failed sign-ins. For your safety this account is locked; try again in {n} seconds.",e_bad_credentials:"Wrong user name or password.",e_csrf:"This page is out of date (security token). Reload it and try again.",e_unauthorized:"Please sign in again.",files_upload:"You can upload them here; they are stored when you finish the wizard.",optional:"optional",net_restart:"Interface, address and DHCP mode take effect when Bootbox restarts.",win_domain:"Windows domain (optional)",win_domain_hint:"Written into the \"Domain\" line of the images' .reg files before a PC downloads them, as LINBO does with the Samba domain. Empty: .reg files stay as they are.",addr_mode:"This box gets its address",addr_dhcp:"from the school's DHCP server (reserve its MAC address there)",addr_static:"fixed: the address above",addr_prefix:"Prefix length (24 = 255.255.255.0)",addr_gateway:"Gateway (optional)",addr_dns:"DNS servers (optional, up to three)",addr_hint:"The appliance uses the fixed address from its next start on. A wrong address makes the box unreachable: the console screen always shows where it can be reached.",skip_invalid:"Skip lines with errors and import the valid ones",skipped:"Skipped lines",valid_lines:"{n} lines are valid; tick “Skip lines with errors” to import only those.",result:"Result",description:"Description",add_room:"Add room",name:"Name",count:"Hosts",
  startconf:"start.conf",form_view:"Form",raw_view:"Raw text",valid:"Valid",invalid:"Invalid – not saved",saved:"Saved.",new_group:"New group",
  warnings:"Warnings",version:"Versions",backups:"Backups",restore:"Restore",upload:"Upload image",image_file:"Image file (.qcow2 or .qdiff)",
  comment:"Comment",uploading:"Uploading…",uploaded:"Upload complete.",size:"Size",time:"Time",actor:"Who",action:"Action",message:"What",
  kind:"Kind",audit:"Admin actions",system:"System",school:"School",save_settings:"Save settings",change_pw:"Change password",
  current_pw:"Current password",new_pw:"New password",signout_all:"Sign out everywhere",tokens:"API tokens",scope:"Scope",
  create_token:"Create token",token_once:"Copy this token now; it is shown only once:",revoke:"Revoke",rerun:"Run the setup wizard again",
  confirm:"Are you sure?",error:"Error",loading:"Loading…",none:"none",live_on:"Live updates on",api_doc:"API description (OpenAPI)",
  image_name:"Image",current:"current",created:"Created",last_used:"Last used",never:"never",enrolled:"Central server",
  boot_files_missing:"Boot files are missing: PCs cannot start LINBO yet.",
 },
 de: {dashboard:"Übersicht",hosts:"Rechner",import:"Import",rooms:"Räume",groups:"Gruppen",images:"Images",events:"Ereignisse",settings:"Einstellungen",
  signout:"Abmelden",signin:"Anmelden",user:"Benutzername",password:"Passwort",password2:"Passwort wiederholen",wizard:"Einrichtung",
  w_admin:"Admin-Konto",w_school:"Schule und Netzwerk",w_files:"Boot-Dateien",w_csv:"Geräte",w_enrol:"Zentraler Server",
  next:"Weiter",back:"Zurück",finish:"Einrichtung abschließen",school_name:"Name der Schule",iface:"Netzwerkschnittstelle",server_ip:"Adresse dieser Box (IPv4)",
  dhcp:"DHCP-Modus",dhcp_proxy:"Proxy – empfohlen: Ihr DHCP-Server vergibt weiter die Adressen, Bootbox ergänzt nur die Boot-Informationen",
  dhcp_full:"Voller DHCP-Server – nur für ein abgetrenntes Imaging-Netz ohne anderen DHCP-Server",dhcp_off:"Aus – Bootbox beantwortet kein DHCP",
  present:"vorhanden",missing:"fehlt",files_hint:"Bootbox braucht linbo64 und linbofs64 im LINBO-Ordner, um LINBO auf den PCs zu starten.",
  csv_hint:"Optional: devices.csv hier einfügen (raum;rechner;gruppe;mac;ip;…). Der Import geht auch später.",
  enrol_url:"Adresse des zentralen Servers (optional)",enrol_token:"Registrierungs-Token (optional)",enrol_hint:"Beide leer lassen, wenn Ihre Schule keinen zentralen Server hat.",
  pw_short:"Das Passwort muss mindestens 10 Zeichen haben.",pw_mismatch:"Die Passwörter stimmen nicht überein.",
  hosts_total:"Rechner",booted:"Gestartet",booting:"Startet / gesehen",never_seen:"Nie gesehen",no_pxe:"Kein Netzwerk-Boot",no_startconf:"Gruppe ohne start.conf",
  recent:"Letzte Starts",disk:"Speicher",img_bytes:"Images belegen",free:"Frei",what_happens:"Was passiert, wenn ein PC startet",
  room:"Raum",group:"Gruppe",all:"alle",search:"Suche (Name, MAC, IP)",hostname:"Rechnername",mac:"MAC",ip:"IP",pxe:"PXE",last:"Letzter Boot-Schritt",
  edit:"Bearbeiten",save:"Speichern",cancel:"Abbrechen",delete:"Löschen",add_host:"Rechner hinzufügen",timeline:"Verlauf",no_events:"Noch nichts aufgezeichnet.",
  csv_file:"devices.csv-Datei",csv_text:"Inhalt der devices.csv",strategy:"Zusammenführen",s_update:"aktualisieren – neue hinzufügen, gleiche Namen überschreiben, Rest behalten",
  s_replace:"ersetzen – die Datei gilt, Rechner die fehlen werden entfernt",s_add:"nur hinzufügen – nur neue Rechnernamen",
  dry:"Prüfen (Probelauf)",do_import:"Importieren",line:"Zeile",problem:"Problem",text:"Text",nothing_imported:"Es wurde nichts importiert.",
  preview:"Vorschau",e_locked:"Zu viele fehlgeschlagene Anmeldungen. Zu Ihrer Sicherheit ist die Anmeldung gesperrt; versuchen Sie es in {n} Sekunden erneut.",e_bad_credentials:"Benutzername oder Passwort ist falsch.",e_csrf:"Diese Seite ist veraltet (Sicherheits-Token). Bitte neu laden und noch einmal versuchen.",e_unauthorized:"Bitte melden Sie sich erneut an.",files_upload:"Sie können sie hier hochladen; sie werden beim Abschluss des Assistenten gespeichert.",optional:"optional",net_restart:"Schnittstelle, Adresse und DHCP-Modus gelten nach einem Neustart von Bootbox.",win_domain:"Windows-Domäne (optional)",win_domain_hint:"Wird in die \"Domain\"-Zeile der .reg-Dateien der Images geschrieben, bevor ein PC sie lädt – wie LINBO es mit der Samba-Domäne macht. Leer: .reg-Dateien bleiben unverändert.",addr_mode:"Diese Box bekommt ihre Adresse",addr_dhcp:"vom DHCP-Server der Schule (dort ihre MAC-Adresse reservieren)",addr_static:"fest: die Adresse oben",addr_prefix:"Präfixlänge (24 = 255.255.255.0)",addr_gateway:"Gateway (optional)",addr_dns:"DNS-Server (optional, bis zu drei)",addr_hint:"Die Appliance nutzt die feste Adresse ab ihrem nächsten Start. Eine falsche Adresse macht die Box unerreichbar: Der Bildschirm an der Box zeigt immer, wo sie erreichbar ist.",skip_invalid:"Fehlerhafte Zeilen überspringen und die gültigen importieren",skipped:"Übersprungene Zeilen",valid_lines:"{n} Zeilen sind gültig; „Fehlerhafte Zeilen überspringen“ ankreuzen, um nur diese zu importieren.",result:"Ergebnis",description:"Beschreibung",add_room:"Raum hinzufügen",name:"Name",count:"Rechner",
  startconf:"start.conf",form_view:"Formular",raw_view:"Text",valid:"Gültig",invalid:"Ungültig – nicht gespeichert",saved:"Gespeichert.",new_group:"Neue Gruppe",
  warnings:"Hinweise",version:"Versionen",backups:"Sicherungen",restore:"Wiederherstellen",upload:"Image hochladen",image_file:"Image-Datei (.qcow2 oder .qdiff)",
  comment:"Kommentar",uploading:"Wird hochgeladen…",uploaded:"Hochladen abgeschlossen.",size:"Größe",time:"Zeit",actor:"Wer",action:"Aktion",message:"Was",
  kind:"Art",audit:"Admin-Aktionen",system:"System",school:"Schule",save_settings:"Einstellungen speichern",change_pw:"Passwort ändern",
  current_pw:"Aktuelles Passwort",new_pw:"Neues Passwort",signout_all:"Überall abmelden",tokens:"API-Tokens",scope:"Berechtigung",
  create_token:"Token erstellen",token_once:"Diesen Token jetzt kopieren, er wird nur einmal angezeigt:",revoke:"Widerrufen",rerun:"Einrichtungsassistent erneut starten",
  confirm:"Sind Sie sicher?",error:"Fehler",loading:"Lädt…",none:"keine",live_on:"Live-Aktualisierung an",api_doc:"API-Beschreibung (OpenAPI)",
  image_name:"Image",current:"aktuell",created:"Erstellt",last_used:"Zuletzt benutzt",never:"nie",enrolled:"Zentraler Server",
  boot_files_missing:"Boot-Dateien fehlen: PCs können LINBO noch nicht starten.",
 }
};
// Texts of the LINBO client status (image.status, linbo.log).
Object.assign(T.en, {client:"LINBO status",last_sync:"Last sync",last_error:"Last error",sync_applied:"restored",sync_created:"created",version_of:"version",
  err_older:"older than the last sync",failing_hosts:"Hosts reporting failures",no_report:"No report yet",dismiss:"Dismiss error",reported:"reported",
  failing_hint:"These PCs' last report from LINBO is a failure (linbo.log or image.status). The host's logs are in clientlogs/ on the box."});
Object.assign(T.de, {client:"LINBO-Status",last_sync:"Letzte Synchronisation",last_error:"Letzter Fehler",sync_applied:"wiederhergestellt",sync_created:"erstellt",version_of:"Version",
  err_older:"älter als die letzte Synchronisation",failing_hosts:"Rechner mit Fehlermeldungen",no_report:"Noch keine Meldung",dismiss:"Fehler quittieren",reported:"gemeldet",
  failing_hint:"Die letzte Meldung von LINBO ist bei diesen PCs ein Fehler (linbo.log oder image.status). Die Protokolle des Rechners liegen in clientlogs/ auf der Box."});
// Texts of the boot chain (iPXE or LINBO's network GRUB).
Object.assign(T.en, {chain:"Boot chain",chain_group:"as the group",chain_ipxe:"iPXE",chain_grub:"GRUB (LINBO)",
  chain_hint:"GRUB honours a pending \u201creboot into OS\u201d request of LINBO; iPXE shows every step in the timeline."});
Object.assign(T.de, {chain:"Startkette",chain_group:"wie die Gruppe",chain_ipxe:"iPXE",chain_grub:"GRUB (LINBO)",
  chain_hint:"GRUB beachtet eine anstehende \u201eNeustart ins Betriebssystem\u201c-Anforderung von LINBO; iPXE zeigt jeden Schritt in der Zeitleiste."});
// Texts of the network check, HTTPS, linuxmuster import and transfers.
Object.assign(T.en, {w_net:"Network check",net_hint:"Bootbox sends one DHCP request like a network-booting PC on {iface} and listens for {n} seconds for answers. Nothing is changed.",
  net_run:"Check the network",net_busy:"Listening for DHCP and PXE servers…",net_need_iface:"Choose a network interface in the previous step first.",
  net_server:"Server",net_offered:"Offered address",net_pxe:"Boot information",net_file:"Boot file",net_yes:"yes",net_no:"no",
  f_dhcp_found_proxy_ok:"A DHCP server {server} hands out addresses (it offered {ip}) – proxy mode is right.",
  f_dhcp_found_full_conflict:"A DHCP server {server} already hands out addresses here (it offered {ip}) – full DHCP mode would clash with it. Choose proxy mode, or use full DHCP only on an isolated network.",
  f_dhcp_found_off:"A DHCP server {server} hands out addresses – with DHCP off, PCs only find Bootbox if that server points them to it.",
  f_rival_pxe:"Another PXE server {server} answers (boot file {file}) – PCs may boot from it instead of Bootbox. Switch its network-boot answers off for these PCs.",
  f_none_proxy:"No DHCP server found – proxy mode needs one. Use full DHCP mode only on an isolated network.",
  f_none_full_ok:"No DHCP server found – full DHCP mode can hand out addresses here (isolated networks only).",
  f_none_off:"No DHCP server found – with DHCP off, PCs cannot find Bootbox.",f_this_box:"Bootbox itself answered ({server}).",
  tls:"HTTPS certificate",tls_fp:"SHA-256 fingerprint",tls_source:"Origin",tls_generated:"made by this box (self-signed)",tls_uploaded:"uploaded",tls_port:"HTTPS port",
  tls_off:"HTTPS is off: start Bootbox with --https ADDR to serve the UI over HTTPS.",tls_hint:"Replace it by your own certificate: paste (or choose) the certificate chain and its private key in PEM format. The key must belong to the certificate; otherwise nothing changes.",
  transfers:"Running transfers",tr_none:"No image transfers are running.",tr_peers:"Peers",tr_active:"Downloading",tr_uploaded:"Sent",tr_sent:"sent",
  tr_receiver:"Receiver",tr_progress:"Progress",tr_no_receivers:"No receivers yet.",mc_waiting:"waiting for receivers",mc_sending:"sending",mc_done:"done",mc_failed:"failed",tr_port:"port",
  lm_title:"linuxmuster export",lm_hint:"Upload a .tar.gz made on the linuxmuster server, e.g. tar czf export.tar.gz /etc/linuxmuster/sophomorix/default-school/devices.csv /srv/linbo/start.conf.* – Bootbox takes devices.csv and the start.conf.<group> files from it. (Images are copied on the box with: bootbox import linuxmuster <folder>.)",
  lm_file:"linuxmuster export (.tar.gz)",lm_choose:"Choose the export file first.",lm_found:"Found in the archive",lm_skipped:"Files left out",lm_change:"Change",lm_add:"new",lm_upd:"changed",lm_del:"removed",
  lm_continue:"Continue to the dashboard",lm_or:"Or: import a linuxmuster export",lm_wizard:"The export is checked first (dry run); you confirm the import.",
  tls_cert:"Certificate chain (PEM)",tls_key:"Private key (PEM)",tls_cert_file:"Certificate file",tls_key_file:"Key file",tls_upload:"Replace certificate",tls_replaced:"The new certificate is in use.",
 });
Object.assign(T.de, {w_net:"Netzwerk-Prüfung",net_hint:"Bootbox sendet auf {iface} eine DHCP-Anfrage wie ein PC beim Netzwerk-Boot und wartet {n} Sekunden auf Antworten. Es wird nichts verändert.",
  net_run:"Netzwerk prüfen",net_busy:"Suche nach DHCP- und PXE-Servern…",net_need_iface:"Bitte zuerst im vorigen Schritt eine Netzwerkschnittstelle wählen.",
  net_server:"Server",net_offered:"Angebotene Adresse",net_pxe:"Boot-Informationen",net_file:"Boot-Datei",net_yes:"ja",net_no:"nein",
  f_dhcp_found_proxy_ok:"Ein DHCP-Server {server} vergibt Adressen (angeboten: {ip}) – der Proxy-Modus ist richtig.",
  f_dhcp_found_full_conflict:"Ein DHCP-Server {server} vergibt hier schon Adressen (angeboten: {ip}) – ein voller DHCP-Server würde mit ihm kollidieren. Wählen Sie den Proxy-Modus oder nutzen Sie vollen DHCP nur in einem abgetrennten Netz.",
  f_dhcp_found_off:"Ein DHCP-Server {server} vergibt Adressen – mit DHCP aus finden PCs Bootbox nur, wenn dieser Server auf Bootbox verweist.",
  f_rival_pxe:"Ein anderer PXE-Server {server} antwortet (Boot-Datei {file}) – PCs starten womöglich von ihm statt von Bootbox. Schalten Sie seine Netzwerk-Boot-Antworten für diese PCs ab.",
  f_none_proxy:"Kein DHCP-Server gefunden – der Proxy-Modus braucht einen. Vollen DHCP nur in einem abgetrennten Netz verwenden.",
  f_none_full_ok:"Kein DHCP-Server gefunden – Bootbox kann hier selbst Adressen vergeben (nur in abgetrennten Netzen).",
  f_none_off:"Kein DHCP-Server gefunden – mit DHCP aus finden PCs Bootbox nicht.",f_this_box:"Bootbox selbst hat geantwortet ({server}).",
  tls:"HTTPS-Zertifikat",tls_fp:"SHA-256-Fingerabdruck",tls_source:"Herkunft",tls_generated:"von dieser Box erzeugt (selbstsigniert)",tls_uploaded:"hochgeladen",tls_port:"HTTPS-Port",
  tls_off:"HTTPS ist aus: Bootbox mit --https ADRESSE starten, um die Oberfläche über HTTPS anzubieten.",tls_hint:"Durch ein eigenes Zertifikat ersetzen: Zertifikatskette und privaten Schlüssel im PEM-Format einfügen (oder Datei wählen). Der Schlüssel muss zum Zertifikat passen, sonst bleibt alles wie es ist.",
  transfers:"Laufende Übertragungen",tr_none:"Es laufen keine Image-Übertragungen.",tr_peers:"Peers",tr_active:"Laden gerade",tr_uploaded:"Gesendet",tr_sent:"gesendet",
  tr_receiver:"Empfänger",tr_progress:"Fortschritt",tr_no_receivers:"Noch keine Empfänger.",mc_waiting:"wartet auf Empfänger",mc_sending:"sendet",mc_done:"fertig",mc_failed:"fehlgeschlagen",tr_port:"Port",
  lm_title:"linuxmuster-Export",lm_hint:"Eine .tar.gz vom linuxmuster-Server hochladen, z. B. erstellt mit tar czf export.tar.gz /etc/linuxmuster/sophomorix/default-school/devices.csv /srv/linbo/start.conf.* – Bootbox übernimmt daraus die devices.csv und die start.conf.<gruppe>-Dateien. (Images werden auf der Box kopiert mit: bootbox import linuxmuster <ordner>.)",
  lm_file:"linuxmuster-Export (.tar.gz)",lm_choose:"Bitte zuerst die Export-Datei wählen.",lm_found:"Im Archiv gefunden",lm_skipped:"Nicht übernommene Dateien",lm_change:"Änderung",lm_add:"neu",lm_upd:"geändert",lm_del:"entfernt",
  lm_continue:"Weiter zur Übersicht",lm_or:"Oder: einen linuxmuster-Export importieren",lm_wizard:"Der Export wird zuerst geprüft (Probelauf); Sie bestätigen den Import.",
  tls_cert:"Zertifikatskette (PEM)",tls_key:"Privater Schlüssel (PEM)",tls_cert_file:"Zertifikatsdatei",tls_key_file:"Schlüsseldatei",tls_upload:"Zertifikat ersetzen",tls_replaced:"Das neue Zertifikat ist in Gebrauch.",
 });
const t = k => (T[LANG][k] || T.en[k] || k);
const main = document.getElementById("main");
let uid = 0;

function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of kids.flat()) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}
// A labelled input: returns [wrapper, input].
function field(label, attrs, kind) {
  const id = attrs.id || ("f" + (++uid));
  const inp = h(kind || "input", Object.assign({}, attrs, { id }));
  return [h("div", {}, h("label", { for: id }, label), inp), inp];
}
function select(label, opts, value, attrs) {
  const [w, s] = field(label, attrs || {}, "select");
  for (const [v, l] of opts) s.append(h("option", { value: v, selected: v === value }, l));
  return [w, s];
}
// The box's own address: from the school's DHCP server, or fixed (the
// appliance applies it at its next start). Shared by the wizard and the
// settings page; value() gives the API's fields.
function addressFields(s) {
  const [wm, mode] = select(t("addr_mode"), [["dhcp", t("addr_dhcp")], ["static", t("addr_static")]], s.address_mode || "dhcp", { name: "address_mode" });
  const [wp, prefix] = field(t("addr_prefix"), { value: String(s.prefix_len || 24), name: "prefix_len", inputmode: "numeric", size: "3" });
  const [wg, gw] = field(t("addr_gateway"), { value: s.gateway || "", name: "gateway", placeholder: "10.0.0.1", inputmode: "decimal" });
  const [wd, dns] = field(t("addr_dns"), { value: (s.dns || []).join(" "), name: "dns", placeholder: "10.0.0.1 9.9.9.9" });
  const fixed = h("div", { class: "static-address" }, wp, wg, wd, h("p", { class: "hint" }, t("addr_hint")));
  const sync = () => { fixed.hidden = mode.value !== "static"; };
  mode.addEventListener("change", sync); sync();
  return { el: [wm, fixed], value: () => ({ address_mode: mode.value, prefix_len: parseInt(prefix.value, 10) || null, gateway: gw.value, dns: dns.value }) };
}
function msg(el, text, ok) { el.replaceChildren(text ? h("div", { class: "msg " + (ok ? "ok" : "err"), role: ok ? "status" : "alert" }, text) : ""); }
const fmtTime = ms => ms ? new Date(ms).toLocaleString(LANG === "de" ? "de-DE" : "en-GB") : "–";
// A LINBO client clock stamp YYYYMMDDHHMM as "YYYY-MM-DD HH:MM".
const fmtStamp = x => /^\d{12}$/.test(x || "") ? x.slice(0, 4) + "-" + x.slice(4, 6) + "-" + x.slice(6, 8) + " " + x.slice(8, 10) + ":" + x.slice(10, 12) : (x || "–");
// One line about a host's last sync: "win11.qcow2 version 2026-11-20 12:00 restored 2026-11-22 18:30".
const syncText = y => y ? y.image + " (" + t("version_of") + " " + fmtStamp(y.version) + ") " + t("sync_" + y.kind) + " " + fmtStamp(y.when) : t("no_report");
// The LINBO status cell of the host list: last sync, and the last error
// highlighted while it is the host's newest word.
function clientCell(cs) {
  if (!cs) return h("td", { class: "client" }, "–");
  const e = cs.last_error;
  return h("td", { class: "client", "data-failing": cs.failing ? "1" : "0" }, cs.last_sync ? syncText(cs.last_sync) : "",
    e ? h("div", { class: cs.failing ? "err" : "warn", title: fmtTime(e.at_ms) }, (cs.failing ? "⚠ " : "") + e.message) : "");
}
const fmtBytes = n => n == null ? "–" : n < 1024 ? n + " B" : n < 1048576 ? (n / 1024).toFixed(1) + " KiB" : n < 1073741824 ? (n / 1048576).toFixed(1) + " MiB" : (n / 1073741824).toFixed(2) + " GiB";

// Server messages are English; the codes people meet most get the UI language.
function errText(status, body) {
  const e = (body && body.error) || {};
  const secs = ((e.message || "").match(/(\d+) seconds/) || [])[1];
  if (e.code && T[LANG]["e_" + e.code]) return T[LANG]["e_" + e.code].replace("{n}", secs || "?");
  return e.message || ("HTTP " + status);
}
class ApiErr extends Error { constructor(status, body) { super(errText(status, body)); this.status = status; this.body = body || {}; this.code = body && body.error && body.error.code; } }
async function api(method, path, data) {
  const opt = { method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
  if (method !== "GET") opt.headers["X-CSRF-Token"] = CSRF();
  if (data !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(data); }
  const r = await fetch(path, opt);
  let body = null;
  const text = await r.text();
  if (text) { try { body = JSON.parse(text); } catch (e) { body = null; } }
  if (r.status === 401 && PAGE !== "login" && PAGE !== "setup") { location.href = "/login"; }
  if (!r.ok) throw new ApiErr(r.status, body);
  return body;
}
function table(heads, rows) {
  return h("table", {}, h("thead", {}, h("tr", {}, heads.map(x => h("th", { scope: "col" }, x)))), h("tbody", {}, rows));
}
// Runs an async action with the button disabled and errors shown in `out`.
function action(btn, out, fn) {
  return async ev => {
    if (ev) ev.preventDefault();
    btn.disabled = true;
    try { await fn(); } catch (e) { msg(out, t("error") + ": " + e.message); } finally { btn.disabled = false; }
  };
}

// ----- chrome -------------------------------------------------------------
function chrome() {
  const langSel = document.getElementById("lang");
  langSel.value = LANG;
  langSel.addEventListener("change", () => { document.cookie = "lang=" + langSel.value + "; path=/; max-age=31536000; samesite=strict"; location.reload(); });
  document.title = "Bootbox – " + t(PAGE === "setup" ? "wizard" : PAGE === "login" ? "signin" : PAGE);
  document.querySelector(".skip").textContent = LANG === "de" ? "Zum Inhalt" : "Skip to content";
  if (!B.dataset.user) return;
  const nav = document.getElementById("nav");
  for (const p of ["dashboard", "hosts", "import", "rooms", "groups", "images", "events", "settings"])
    nav.append(h("a", { href: "/" + p, "aria-current": p === PAGE ? "page" : null }, t(p)));
  const who = document.getElementById("who");
  const out = h("button", { class: "sec", type: "button", id: "signout" }, t("signout"));
  out.addEventListener("click", async () => { try { await api("POST", "/api/v1/auth/logout"); } catch (e) { /* signed out anyway */ } location.href = "/login"; });
  who.append(B.dataset.user + " ", out);
  live();
}
const listeners = [];
function live() {
  if (!window.EventSource) return;
  const es = new EventSource("/api/v1/events/stream");
  es.addEventListener("transfers", ev => { try { showTransfers(JSON.parse(ev.data)); } catch (e) { /* ignore a bad frame */ } });
  es.addEventListener("events", ev => {
    let list = [];
    try { list = JSON.parse(ev.data); } catch (e) { return; }
    const box = document.getElementById("live");
    for (const e of list.slice(-3)) {
      const d = h("div", {}, e.actor + ": " + e.message);
      box.append(d); setTimeout(() => d.remove(), 6000);
    }
    listeners.forEach(f => f(list));
  });
}

// Running torrent and multicast transfers; replaced in place on every
// `transfers` event of the live stream.
function renderTransfers(d) {
  const tor = d.torrent || [], mc = d.multicast || [];
  const sec = h("section", { id: "transfers", class: "card", "aria-labelledby": "tr-h" }, h("h2", { id: "tr-h" }, t("transfers")));
  if (!tor.length && !mc.length) { sec.append(h("p", {}, t("tr_none"))); return sec; }
  if (tor.length) sec.append(h("h3", {}, "BitTorrent"), table([t("image_name"), t("tr_peers"), t("tr_active"), t("tr_uploaded"), "Info-Hash"],
    tor.map(x => h("tr", { "data-image": x.image }, h("td", {}, x.image), h("td", {}, x.peers), h("td", {}, x.active_downloads), h("td", {}, fmtBytes(x.uploaded_bytes)), h("td", { class: "mono" }, String(x.info_hash).slice(0, 12) + "…")))));
  for (const m of mc) {
    const pct = m.total_bytes ? Math.min(100, Math.round(100 * m.bytes_sent / m.total_bytes)) : null;
    sec.append(h("div", { class: "mc", "data-image": m.image }, h("h3", {}, "Multicast: " + m.image),
      h("p", {}, t("tr_port") + " " + m.port + " · " + t("mc_" + m.state) + " · " + fmtBytes(m.bytes_sent) + " " + t("tr_sent") + (pct != null ? " (" + pct + " %)" : "")),
      (m.receivers || []).length ? table([t("tr_receiver"), t("tr_progress")], m.receivers.map(r => h("tr", {}, h("td", { class: "mono" }, r.addr),
        h("td", {}, h("progress", { max: "100", value: String(r.progress_percent), "aria-label": m.image + " " + r.addr }), " " + Math.round(r.progress_percent) + " %")))) : h("p", {}, t("tr_no_receivers"))));
  }
  return sec;
}
function showTransfers(d) { const el = document.getElementById("transfers"); if (el) el.replaceWith(renderTransfers(d)); }
async function transfersSection() {
  try { return renderTransfers(await api("GET", "/api/v1/transfers")); } catch (e) { return renderTransfers({}); }
}

// ----- login ----------------------------------------------------------------
function pageLogin() {
  const out = h("div", {});
  const [wu, u] = field(t("user"), { name: "username", autocomplete: "username", required: true, value: "admin" });
  const [wp, p] = field(t("password"), { name: "password", type: "password", autocomplete: "current-password", required: true });
  const btn = h("button", { type: "submit" }, t("signin"));
  const form = h("form", { class: "card", "aria-labelledby": "h" }, h("h1", { id: "h" }, t("signin")), wu, wp, btn, out);
  form.addEventListener("submit", action(btn, out, async () => {
    try { await api("POST", "/api/v1/auth/login", { username: u.value, password: p.value }); location.href = "/dashboard"; }
    catch (e) { msg(out, e.message); p.value = ""; p.focus(); }
  }));
  main.append(form); u.focus();
}

// ----- setup wizard ---------------------------------------------------------
async function pageSetup() {
  const st = await api("GET", "/api/v1/setup");
  const rerun = st.admin_exists;
  const s = st.settings || {};
  const steps = (rerun ? [] : ["w_admin"]).concat(["w_school", "w_net", "w_files", "w_csv", "w_enrol"]);
  let cur = 0;
  const out = h("div", {});
  const list = h("ol", { class: "steps", "aria-label": t("wizard") });
  const panes = {};
  const [wu, u] = field(t("user"), { value: "admin", autocomplete: "username", name: "username" });
  const [wp, p1] = field(t("password"), { type: "password", autocomplete: "new-password", name: "password", minlength: "10" });
  const [wp2, p2] = field(t("password2"), { type: "password", autocomplete: "new-password", name: "password2" });
  panes.w_admin = [wu, wp, h("p", { class: "hint" }, t("pw_short")), wp2];
  const [ws, school] = field(t("school_name"), { value: s.school_name || "", name: "school_name", required: true });
  const ifaces = (st.interfaces || []).map(i => [i, i]);
  const [wi, iface] = select(t("iface"), [["", "–"]].concat(ifaces), s.interface || (ifaces[0] || [""])[0], { name: "interface" });
  const [wip, ip] = field(t("server_ip"), { value: s.server_ip || "", name: "server_ip", placeholder: "10.0.0.5", inputmode: "decimal" });
  const dh = h("fieldset", { class: "radio" }, h("legend", {}, t("dhcp")));
  const radios = [];
  for (const m of ["proxy", "full", "off"]) {
    const id = "dhcp-" + m;
    const r = h("input", { type: "radio", name: "dhcp", id, value: m, checked: (s.dhcp_mode || "proxy") === m });
    radios.push(r);
    dh.append(h("div", {}, r, h("label", { for: id }, t("dhcp_" + m))));
  }
  const addr = addressFields(s);
  panes.w_school = [ws, wi, wip, ...addr.el, dh, h("p", { class: "hint" }, t("net_restart"))];
  panes.w_net = preflightPane(() => ({ interface: iface.value, server_ip: ip.value, dhcp_mode: (radios.find(r => r.checked) || radios[0]).value }));
  const bf = st.boot_files || {};
  const bootInputs = {};
  panes.w_files = [h("p", {}, t("files_hint")), h("ul", {}, ["linbo64", "linbofs64"].map(f => h("li", {}, f + ": ", h("span", { class: bf[f] ? "ok" : "err" }, bf[f] ? t("present") : t("missing"))))),
    h("p", { class: "hint" }, t("files_upload")),
    ["linbo64", "linbofs64"].map(f => { const [w, i] = field(f + " (" + t("optional") + ")", { type: "file", id: "bf-" + f }); bootInputs[f] = i; return w; })];
  const [wc, csv] = field(t("csv_text"), { rows: "8", name: "csv", spellcheck: "false" }, "textarea");
  const [wlm, lmFile] = field(t("lm_file"), { type: "file", id: "lm-file", accept: ".tar.gz,.tgz,application/gzip" });
  panes.w_csv = [h("p", { class: "hint" }, t("csv_hint")), wc, h("h3", {}, t("lm_or")), h("p", { class: "hint" }, t("lm_hint")), wlm, h("p", { class: "hint" }, t("lm_wizard"))];
  const [weu, eu] = field(t("enrol_url"), { type: "url", name: "enrol_url", placeholder: "https://", value: st.enrolment_url || "" });
  const [wet, et] = field(t("enrol_token"), { name: "enrol_token", autocomplete: "off" });
  panes.w_enrol = [h("p", { class: "hint" }, t("enrol_hint")), weu, wet];
  const body = h("div", {});
  const back = h("button", { type: "button", class: "sec", id: "back" }, t("back"));
  const next = h("button", { type: "submit", id: "next" }, t("next"));
  const form = h("form", { class: "card", novalidate: true }, h("h1", {}, t("wizard")), list, body, out, back, next);
  function show() {
    list.replaceChildren(...steps.map((k, i) => h("li", { "aria-current": i === cur ? "step" : null }, (i + 1) + ". " + t(k))));
    body.replaceChildren(h("h2", {}, t(steps[cur])), ...(typeof panes[steps[cur]] === "function" ? panes[steps[cur]]() : panes[steps[cur]]).flat());
    back.disabled = cur === 0;
    next.textContent = cur === steps.length - 1 ? t("finish") : t("next");
    msg(out, "");
    const f = body.querySelector("input,select,textarea"); if (f) f.focus();
  }
  function check() {
    if (steps[cur] === "w_admin") {
      if (p1.value.length < 10) { msg(out, t("pw_short")); p1.focus(); return false; }
      if (p1.value !== p2.value) { msg(out, t("pw_mismatch")); p2.focus(); return false; }
    }
    if (steps[cur] === "w_school" && !school.value.trim()) { msg(out, t("school_name") + "?"); school.focus(); return false; }
    return true;
  }
  back.addEventListener("click", () => { if (cur > 0) { cur--; show(); } });
  form.addEventListener("submit", action(next, out, async () => {
    if (!check()) return;
    if (cur < steps.length - 1) { cur++; show(); return; }
    const dhcp = (radios.find(r => r.checked) || radios[0]).value;
    const r = await api("POST", "/api/v1/setup", Object.assign({ username: u.value, password: p1.value, school_name: school.value, interface: iface.value, server_ip: ip.value, dhcp_mode: dhcp, enrol_url: eu.value, enrol_token: et.value }, addr.value()));
    if (r && r.csrf) document.querySelector('meta[name="csrf"]').content = r.csrf;
    for (const f of ["linbo64", "linbofs64"]) {
      const file = bootInputs[f].files[0];
      if (!file) continue;
      const prog = h("progress", { max: "100", value: "0", "aria-label": f }), pct = h("span", {}, f + " …");
      out.replaceChildren(h("div", {}, pct, " ", prog));
      await xhrUpload("/api/v1/bootfiles/" + f, file, prog, pct);
    }
    if (csv.value.trim()) {
      try { await api("POST", "/api/v1/import/devices", { csv: csv.value, strategy: "update", dry_run: false }); }
      catch (e) { sessionStorage.setItem("bbx-import", csv.value); location.href = "/import"; return; }
    }
    if (lmFile.files[0]) {
      // Signed in now: preview the linuxmuster export, the admin confirms.
      const done = h("button", { type: "button", id: "lm-done" }, t("lm_continue"));
      done.addEventListener("click", () => { location.href = "/dashboard"; });
      const box = lmBox(lmFile);
      back.hidden = true; next.hidden = true;
      body.replaceChildren(h("h2", {}, t("lm_title")), ...box.el, h("p", {}, done));
      out.replaceChildren();
      await box.run(true);
      return;
    }
    location.href = "/dashboard";
  }));
  main.append(form); show();
}

// Wizard step "network check": runs the DHCP pre-flight on the chosen
// interface and words each finding for the chosen DHCP mode.
function preflightPane(choice) {
  const res = h("div", { id: "preflight-result", role: "status", "aria-live": "polite" });
  const btn = h("button", { type: "button", id: "preflight" }, t("net_run"));
  const out = h("div", {});
  btn.addEventListener("click", action(btn, out, async () => {
    const c = choice();
    msg(out, "");
    res.replaceChildren(h("p", {}, t("net_busy")), h("progress", { "aria-label": t("net_busy") }));
    try {
      const r = await api("POST", "/api/v1/setup/preflight", c);
      const fill = (k, f) => t("f_" + k).replace("{server}", f.server || "?").replace("{ip}", f.offered_ip || "–").replace("{file}", f.boot_file || "–");
      res.replaceChildren(h("ul", { class: "findings" }, r.findings.map(f => h("li", { class: "msg " + (f.level === "ok" ? "ok" : "err"), "data-code": f.code }, fill(f.code, f)))),
        r.responders.length ? table([t("net_server"), t("net_offered"), t("net_pxe"), t("net_file")], r.responders.map(x => h("tr", {}, h("td", {}, x.server_id), h("td", {}, x.offered_ip || "–"), h("td", {}, x.offers_pxe ? t("net_yes") : t("net_no")), h("td", { class: "mono" }, x.boot_file || "–")))) : "");
    } catch (e) { res.replaceChildren(); throw e; }
  }));
  return () => {
    const c = choice();
    if (!c.interface) return [h("p", { class: "msg err", role: "alert" }, t("net_need_iface"))];
    return [h("p", { class: "hint" }, t("net_hint").replace("{iface}", c.interface).replace("{n}", "6")), btn, out, res];
  };
}

// Settings card: the HTTPS certificate, its fingerprint and the upload form.
async function tlsCard() {
  const d = await api("GET", "/api/v1/settings/tls");
  const info = h("div", {}), out = h("div", {});
  function show(x) {
    info.replaceChildren(x.enabled ? h("dl", {}, h("dt", {}, t("tls_fp")), h("dd", { class: "mono", id: "tls-fp" }, x.certificate.fingerprint_sha256),
      h("dt", {}, t("tls_source")), h("dd", {}, t("tls_" + x.certificate.source)), h("dt", {}, t("tls_port")), h("dd", {}, String(x.port))) : h("p", {}, t("tls_off")));
  }
  show(d);
  const form = h("form", { class: "card", id: "tls-form" }, h("h2", {}, t("tls")), info);
  if (!d.enabled) return form;
  const [wc, cert] = field(t("tls_cert"), { rows: "5", id: "tls-cert", spellcheck: "false" }, "textarea");
  const [wk, key] = field(t("tls_key"), { rows: "5", id: "tls-key", spellcheck: "false", autocomplete: "off" }, "textarea");
  const [wcf, cf] = field(t("tls_cert_file"), { type: "file", id: "tls-cert-file", accept: ".pem,.crt,.cer" });
  const [wkf, kf] = field(t("tls_key_file"), { type: "file", id: "tls-key-file", accept: ".pem,.key" });
  cf.addEventListener("change", async () => { if (cf.files[0]) cert.value = await cf.files[0].text(); });
  kf.addEventListener("change", async () => { if (kf.files[0]) key.value = await kf.files[0].text(); });
  const b = h("button", { type: "submit", id: "tls-upload" }, t("tls_upload"));
  form.append(h("p", { class: "hint" }, t("tls_hint")), wcf, wc, wkf, wk, b, out);
  form.addEventListener("submit", action(b, out, async () => {
    const r = await api("PUT", "/api/v1/settings/tls", { cert_pem: cert.value, key_pem: key.value });
    show(r); key.value = ""; msg(out, t("tls_replaced"), true);
  }));
  return form;
}

// PUT with a real upload progress bar; resolves with the JSON answer.
function xhrUpload(url, file, prog, pct) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.setRequestHeader("X-CSRF-Token", CSRF());
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = e => { if (e.lengthComputable) { prog.value = Math.round(100 * e.loaded / e.total); pct.textContent = prog.value + " %"; } };
    xhr.onload = () => {
      let b = null; try { b = JSON.parse(xhr.responseText); } catch (e) { b = null; }
      if (xhr.status >= 200 && xhr.status < 300) { prog.value = 100; pct.textContent = "100 %"; resolve(b); }
      else reject(new ApiErr(xhr.status, b));
    };
    xhr.onerror = () => reject(new Error("network"));
    xhr.send(file);
  });
}

// ----- dashboard --------------------------------------------------------------
async function pageDashboard() {
  const d = await api("GET", "/api/v1/dashboard");
  const st = d.hosts_by_state || {};
  const s = d.settings || {};
  const de = LANG === "de";
  const ip = s.server_ip || "?";
  const story = [];
  if (s.dhcp_mode === "proxy") story.push(de ? `Ein PC, der im Netz (Schnittstelle ${s.interface || "?"}) per PXE startet, bekommt seine Adresse vom DHCP-Server der Schule und von Bootbox (${ip}) zusätzlich die Boot-Datei.` : `A PC that network-boots on ${s.interface || "?"} gets its address from the school's DHCP server and, from Bootbox (${ip}), its boot file.`);
  else if (s.dhcp_mode === "full") story.push(de ? `Bootbox vergibt selbst Adressen auf ${s.interface || "?"} und die Boot-Datei.` : `Bootbox hands out addresses on ${s.interface || "?"} and the boot file itself.`);
  else story.push(de ? "DHCP ist aus: PCs finden Bootbox nur, wenn ein anderer DHCP-Server auf sie verweist." : "DHCP is off: PCs only find Bootbox if another DHCP server points them to it.");
  story.push(de ? "Bekannte Rechner starten dann LINBO mit der start.conf ihrer Gruppe; Rechner mit „lokal booten“ starten von der Festplatte; unbekannte Rechner bekommen nichts." : "Known PCs then start LINBO with their group's start.conf; PCs set to local boot start from their disk; unknown PCs get nothing.");
  if (!(d.boot_files || {}).linbo64) story.push(t("boot_files_missing"));
  if ((d.groups_without_startconf || []).length) story.push((de ? "Gruppen ohne start.conf (diese PCs können LINBO noch nicht starten): " : "Groups without start.conf (their PCs cannot start LINBO yet): ") + d.groups_without_startconf.join(", "));
  const stat = (k, n) => h("div", { class: "stat" }, h("b", {}, n || 0), t(k));
  main.append(h("h1", {}, t("dashboard") + (d.school_name ? " – " + d.school_name : "")),
    h("section", { class: "card", "aria-labelledby": "wh" }, h("h2", { id: "wh" }, t("what_happens")), story.map(x => h("p", {}, x))),
    h("div", { class: "grid" }, stat("hosts_total", d.hosts_total), ["booted", "booting", "never_seen", "no_startconf", "no_pxe"].map(k => stat(k, st[k])), stat("failing_hosts", (d.hosts_failing || []).length)),
    failingSection(d.hosts_failing || []),
    await transfersSection(),
    h("h2", {}, t("recent")),
    (d.recent_boots || []).length ? table([t("hostname"), t("room"), t("last"), t("time")], d.recent_boots.map(r => h("tr", {}, h("td", {}, r.hostname), h("td", {}, r.room), h("td", {}, r.last_step), h("td", {}, fmtTime(r.last_time_ms))))) : h("p", {}, t("no_events")),
    h("h2", {}, t("disk")), h("p", {}, t("img_bytes") + ": " + fmtBytes(d.disk.images_bytes) + " · " + t("free") + ": " + fmtBytes(d.disk.free_bytes) + " · " + t("images") + ": " + d.images));
  listeners.push(() => { main.replaceChildren(); pageDashboard(); listeners.length = 0; });
}

// Dashboard warning: hosts whose LINBO client last reported a failure.
function failingSection(list) {
  if (!list.length) return null;
  return h("section", { class: "card", id: "hosts-failing", role: "alert", "aria-labelledby": "hf-h" }, h("h2", { id: "hf-h", class: "err" }, "⚠ " + t("failing_hosts") + " (" + list.length + ")"),
    h("p", { class: "hint" }, t("failing_hint")),
    table([t("hostname"), t("room"), t("last_error"), t("time")], list.map(x => h("tr", { class: "bad", "data-host": x.hostname }, h("td", {}, x.hostname), h("td", {}, x.room), h("td", { class: "mono" }, x.message), h("td", {}, fmtTime(x.at_ms))))));
}

// Host detail: what the host's LINBO client last reported.
async function clientStatusCard(x, onChange) {
  const cs = await api("GET", "/api/v1/hosts/" + encodeURIComponent(x.hostname) + "/status");
  const out = h("div", {});
  const e = cs.last_error, y = cs.last_sync;
  const dl = h("dl", {}, h("dt", {}, t("last_sync")), h("dd", { id: "cs-sync" }, syncText(y), y ? " · " + t("reported") + " " + fmtTime(y.reported_ms) : ""),
    h("dt", {}, t("last_error")), h("dd", { id: "cs-error" }, e ? h("span", { class: cs.failing ? "msg err" : "warn", role: cs.failing ? "alert" : null }, e.message + " (" + e.source + ", " + fmtTime(e.at_ms) + (cs.failing ? "" : ", " + t("err_older")) + ")") : t("none")));
  const card = h("section", { class: "card", id: "client-status", "data-failing": cs.failing ? "1" : "0" }, h("h3", {}, t("client")), dl, out);
  if (e) {
    const b = h("button", { type: "button", class: "sec", id: "cs-dismiss" }, t("dismiss"));
    b.addEventListener("click", action(b, out, async () => {
      await api("DELETE", "/api/v1/hosts/" + encodeURIComponent(x.hostname) + "/status/error");
      card.replaceWith(await clientStatusCard(x, onChange)); if (onChange) onChange();
    }));
    card.append(b);
  }
  return card;
}

// ----- hosts --------------------------------------------------------------------
async function pageHosts() {
  const [rooms, groups] = await Promise.all([api("GET", "/api/v1/rooms"), api("GET", "/api/v1/groups")]);
  const [wr, fr] = select(t("room"), [["", t("all")]].concat(rooms.map(r => [r.name, r.name])), "", { id: "f-room" });
  const [wg, fg] = select(t("group"), [["", t("all")]].concat(groups.map(g => [g.name, g.name])), "", { id: "f-group" });
  const [wq, fq] = field(t("search"), { type: "search", id: "f-q" });
  const out = h("div", {}), list = h("div", {}), detail = h("div", {});
  const add = h("button", { type: "button" }, t("add_host"));
  add.addEventListener("click", () => editHost(null));
  main.append(h("h1", {}, t("hosts")), h("div", { class: "filters", role: "search" }, wr, wg, wq), add, out, detail, list);
  async function load() {
    const q = new URLSearchParams({ room: fr.value, group: fg.value, q: fq.value });
    const hosts = await api("GET", "/api/v1/hosts?" + q);
    list.replaceChildren(table([t("hostname"), t("room"), t("group"), t("mac"), t("ip"), t("pxe"), t("chain"), t("last"), t("client"), ""], hosts.map(x => {
      const e = h("button", { type: "button", class: "sec" }, t("edit")); e.addEventListener("click", () => editHost(x));
      const tl = h("button", { type: "button", class: "sec" }, t("timeline")); tl.addEventListener("click", () => timeline(x));
      return h("tr", { "data-host": x.hostname }, h("td", {}, x.hostname), h("td", {}, x.room), h("td", {}, x.group), h("td", { class: "mono" }, x.mac), h("td", {}, x.ip), h("td", {}, x.pxe), h("td", { "data-chain": x.effective_chain, class: x.chain ? null : "hint", title: x.chain ? null : t("chain_group") }, t("chain_" + x.effective_chain)), h("td", {}, x.last_step ? x.last_step + " · " + fmtTime(x.last_time_ms) : "–"), clientCell(x.client_status), h("td", {}, e, tl));
    })), h("p", { class: "hint" }, hosts.length + " " + t("hosts")));
  }
  for (const el of [fr, fg]) el.addEventListener("change", load);
  let timer; fq.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(load, 250); });
  function editHost(x) {
    const o = h("div", {});
    const [a, hn] = field(t("hostname"), { value: x ? x.hostname : "", required: true });
    const [b, ro] = field(t("room"), { value: x ? x.room : "", required: true });
    const [c, gr] = field(t("group"), { value: x ? x.group : "", required: true });
    const [d, mc] = field(t("mac"), { value: x ? x.mac : "", required: true });
    const [e, ipx] = field(t("ip"), { value: x && x.ip !== "DHCP" ? x.ip : "", placeholder: "DHCP", id: "detail-ip" });
    const [f, px] = select(t("pxe"), [["0", "0"], ["1", "1 (LINBO)"], ["2", "2"], ["3", "3"]], String(x ? x.pxe : 1));
    const ownChain = x && x.chain ? x.chain : "";
    const [g, ch] = select(t("chain"), [["", t("chain_group")], ["ipxe", t("chain_ipxe")], ["grub", t("chain_grub")]], ownChain, { id: "detail-chain", title: t("chain_hint") });
    const save = h("button", { type: "submit", id: "host-save" }, t("save"));
    const cancel = h("button", { type: "button", class: "sec" }, t("cancel"));
    const del = x ? h("button", { type: "button", class: "danger" }, t("delete")) : null;
    const form = h("form", { class: "card" }, h("h2", {}, x ? t("edit") + ": " + x.hostname : t("add_host")), a, b, c, d, e, f, g, save, cancel, del, o);
    cancel.addEventListener("click", () => detail.replaceChildren());
    if (del) del.addEventListener("click", action(del, o, async () => { if (!confirm(t("confirm"))) return; await api("DELETE", "/api/v1/hosts/" + encodeURIComponent(x.hostname)); detail.replaceChildren(); load(); }));
    form.addEventListener("submit", action(save, o, async () => {
      const v = { hostname: hn.value, room: ro.value, group: gr.value, mac: mc.value, ip: ipx.value, pxe: Number(px.value) };
      if (x) await api("PUT", "/api/v1/hosts/" + encodeURIComponent(x.hostname), v); else await api("POST", "/api/v1/hosts", v);
      if (ch.value !== ownChain) await api("PUT", "/api/v1/hosts/" + encodeURIComponent(hn.value.trim().toLowerCase()) + "/chain", { chain: ch.value || null });
      detail.replaceChildren(h("div", { class: "msg ok", role: "status" }, t("saved"))); load();
    }));
    detail.replaceChildren(form); hn.focus();
  }
  async function timeline(x) {
    const ev = await api("GET", "/api/v1/hosts/" + encodeURIComponent(x.mac) + "/timeline");
    const items = Array.isArray(ev) ? ev : (ev.events || []);
    const close = h("button", { type: "button", class: "sec" }, t("cancel"));
    close.addEventListener("click", () => detail.replaceChildren());
    let status = null;
    try { status = await clientStatusCard(x, load); } catch (e) { status = null; }
    detail.replaceChildren(h("section", { class: "card" }, h("h2", {}, t("timeline") + ": " + x.hostname), status,
      items.length ? table([t("time"), "", "", ""], items.map(e => h("tr", {}, h("td", {}, fmtTime(e.time_ms)), h("td", {}, e.source), h("td", {}, e.step), h("td", {}, e.detail || "")))) : h("p", {}, t("no_events")),
      ev.hints ? h("ul", {}, (ev.hints || []).map(x => h("li", {}, typeof x === "string" ? x : JSON.stringify(x)))) : null, close));
    close.focus();
  }
  await load();
}

// ----- import -------------------------------------------------------------------
function pageImport() {
  const [wf, file] = field(t("csv_file"), { type: "file", accept: ".csv,text/csv,text/plain", id: "csv-file" });
  const [wt, text] = field(t("csv_text"), { rows: "10", spellcheck: "false", id: "csv-text" }, "textarea");
  const saved = sessionStorage.getItem("bbx-import"); if (saved) { text.value = saved; sessionStorage.removeItem("bbx-import"); }
  file.addEventListener("change", () => { const f = file.files[0]; if (!f) return; const r = new FileReader(); r.onload = () => { text.value = r.result; }; r.readAsText(f); });
  const strat = h("fieldset", { class: "radio" }, h("legend", {}, t("strategy")));
  for (const [v, k] of [["update", "s_update"], ["add-only", "s_add"], ["replace", "s_replace"]])
    strat.append(h("div", {}, h("input", { type: "radio", name: "strategy", id: "st-" + v, value: v, checked: v === "update" }), h("label", { for: "st-" + v }, t(k))));
  const skip = h("input", { type: "checkbox", id: "skip-invalid" });
  const skipW = h("div", {}, skip, " ", h("label", { for: "skip-invalid", style: null, class: "inline" }, t("skip_invalid")));
  const dry = h("button", { type: "button", id: "dry" }, t("dry"));
  const go = h("button", { type: "button", id: "commit" }, t("do_import"));
  const prog = h("progress", { hidden: true, "aria-label": t("loading") });
  const out = h("div", { id: "import-result" });
  main.append(h("h1", {}, t("import")), h("div", { class: "card" }, wf, wt, strat, skipW, dry, go, prog, out));
  async function run(isDry, btn) {
    btn.disabled = true; prog.hidden = false; out.replaceChildren();
    const strategy = document.querySelector('input[name="strategy"]:checked').value;
    try {
      const r = await api("POST", "/api/v1/import/devices", { csv: text.value, strategy, dry_run: isDry, skip_invalid: skip.checked });
      const rows = (r.rows || []).map(x => h("tr", {}, h("td", {}, x.line), h("td", {}, x.hostname), h("td", {}, x.room), h("td", {}, x.group), h("td", { class: "mono" }, x.mac), h("td", {}, x.ip)));
      out.append(h("div", { class: "msg ok", role: "status", id: "import-summary" }, (isDry ? t("dry") + ": " : t("result") + ": ") + r.summary + (isDry ? " – " + t("nothing_imported") : "")),
        (r.skipped_lines || []).length ? h("div", {}, h("h2", {}, t("skipped")), table([t("line"), t("problem"), t("text")], r.skipped_lines.map(x => h("tr", { class: "bad", "data-line": x.line }, h("td", {}, x.line), h("td", {}, x.message), h("td", { class: "mono" }, x.text))))) : "",
        (r.warnings || []).length ? h("div", {}, h("h2", {}, t("warnings")), h("ul", {}, r.warnings.map(w => h("li", {}, t("line") + " " + w.line + ": " + w.message)))) : "",
        h("h2", {}, t("preview")), table([t("line"), t("hostname"), t("room"), t("group"), t("mac"), t("ip")], rows));
    } catch (e) {
      const errs = (e.body && e.body.errors) || [];
      out.append(h("div", { class: "msg err", role: "alert", id: "import-error" }, e.message + (e.body && e.body.valid_lines != null ? ". " + t("valid_lines").replace("{n}", e.body.valid_lines) : "")));
      if (errs.length) out.append(table([t("line"), t("problem"), t("text")], errs.map(x => h("tr", { class: "bad", "data-line": x.line }, h("td", {}, x.line), h("td", {}, x.message), h("td", { class: "mono" }, x.text)))));
    } finally { btn.disabled = false; prog.hidden = true; }
  }
  dry.addEventListener("click", () => run(true, dry));
  go.addEventListener("click", () => run(false, go));
  const [wlm, lmFile] = field(t("lm_file"), { type: "file", id: "lm-file", accept: ".tar.gz,.tgz,application/gzip" });
  main.append(h("section", { class: "card", "aria-labelledby": "lm-h" }, h("h2", { id: "lm-h" }, t("lm_title")), h("p", { class: "hint" }, t("lm_hint")), wlm, ...lmBox(lmFile).el));
}

// POST of a raw file (no progress bar needed for small files).
async function apiRaw(method, path, blob, type) {
  const r = await fetch(path, { method, credentials: "same-origin", body: blob, headers: { "Accept": "application/json", "X-CSRF-Token": CSRF(), "Content-Type": type || "application/octet-stream" } });
  let body = null; const text = await r.text();
  if (text) { try { body = JSON.parse(text); } catch (e) { body = null; } }
  if (!r.ok) throw new ApiErr(r.status, body);
  return body;
}

// linuxmuster export import: strategy, dry run preview, then commit.
function lmBox(fileInput) {
  const [ws, strat] = select(t("strategy"), [["update", t("s_update")], ["add-only", t("s_add")], ["replace", t("s_replace")]], "update", { id: "lm-strategy" });
  const dry = h("button", { type: "button", id: "lm-dry" }, t("dry"));
  const go = h("button", { type: "button", id: "lm-commit", hidden: true }, t("do_import"));
  const out = h("div", { id: "lm-result" });
  async function run(isDry) {
    const btn = isDry ? dry : go, f = fileInput.files[0];
    if (!f) { msg(out, t("lm_choose")); return; }
    btn.disabled = true; out.replaceChildren(h("progress", { "aria-label": t("loading") }));
    try {
      const r = await apiRaw("POST", "/api/v1/import/linuxmuster?dry_run=" + isDry + "&strategy=" + encodeURIComponent(strat.value), f, "application/gzip");
      const rows = [["lm_add", r.added], ["lm_upd", r.updated], ["lm_del", r.removed]].flatMap(([k, list]) => (list || []).map(x => h("tr", {}, h("td", {}, t(k)), h("td", {}, x.hostname), h("td", {}, x.room), h("td", {}, x.group), h("td", { class: "mono" }, x.mac), h("td", {}, x.ip))));
      out.replaceChildren(h("div", { class: "msg ok", role: "status", id: "lm-summary" }, (isDry ? t("dry") + ": " : t("result") + ": ") + r.summary + (isDry ? " – " + t("nothing_imported") : "")),
        h("p", {}, t("lm_found") + ": " + [r.devices_csv].concat((r.start_confs || []).map(g => "start.conf." + g)).filter(Boolean).join(", ")),
        (r.warnings || []).length ? h("div", {}, h("h3", {}, t("warnings")), h("ul", {}, r.warnings.map(w => h("li", {}, w)))) : "",
        (r.notes || []).length ? h("details", {}, h("summary", {}, t("lm_skipped")), h("ul", {}, r.notes.map(w => h("li", {}, w)))) : "",
        rows.length ? table([t("lm_change"), t("hostname"), t("room"), t("group"), t("mac"), t("ip")], rows) : "");
      go.hidden = !isDry;
    } catch (e) {
      const b = e.body || {};
      const list = (b.errors || []).map(x => x.file + ":" + x.line + ": " + x.message).concat(b.problems || [], (b.conflicts || []).map(String));
      out.replaceChildren(h("div", { class: "msg err", role: "alert", id: "lm-error" }, e.message), list.length ? h("ul", { class: "mono" }, list.map(x => h("li", {}, x))) : "");
      go.hidden = true;
    } finally { btn.disabled = false; }
  }
  dry.addEventListener("click", () => run(true));
  go.addEventListener("click", () => run(false));
  fileInput.addEventListener("change", () => { go.hidden = true; out.replaceChildren(); });
  return { el: [ws, dry, go, out], run };
}

// ----- rooms ----------------------------------------------------------------------
async function pageRooms() {
  const out = h("div", {}), list = h("div", {});
  const [wn, n] = field(t("name"), { required: true, id: "room-name" });
  const [wd, d] = field(t("description"), { id: "room-desc" });
  const btn = h("button", { type: "submit" }, t("save"));
  const form = h("form", { class: "card" }, h("h2", {}, t("add_room")), wn, wd, btn, out);
  form.addEventListener("submit", action(btn, out, async () => { await api("PUT", "/api/v1/rooms/" + encodeURIComponent(n.value.trim()), { description: d.value }); msg(out, t("saved"), true); n.value = d.value = ""; load(); }));
  main.append(h("h1", {}, t("rooms")), list, form);
  async function load() {
    const rooms = await api("GET", "/api/v1/rooms");
    list.replaceChildren(table([t("name"), t("description"), t("count"), ""], rooms.map(r => {
      const e = h("button", { type: "button", class: "sec" }, t("edit")); e.addEventListener("click", () => { n.value = r.name; d.value = r.description; d.focus(); });
      const del = h("button", { type: "button", class: "danger" }, t("delete"));
      del.addEventListener("click", action(del, out, async () => { if (!confirm(t("confirm"))) return; await api("DELETE", "/api/v1/rooms/" + encodeURIComponent(r.name)); load(); }));
      return h("tr", {}, h("td", {}, r.name), h("td", {}, r.description), h("td", {}, r.hosts), h("td", {}, e, del));
    })));
  }
  await load();
}

// ----- groups and start.conf -----------------------------------------------------
const LINBO_KEYS = ["Server", "Group", "Cache", "RootTimeout", "AutoPartition", "AutoFormat", "AutoInitCache", "DownloadType", "GuiDisabled", "UseMinimalLayout", "Locale", "SystemType", "KernelOptions"];
function setLinboKey(text, key, value) {
  const lines = text.split("\n");
  let inLinbo = false, start = -1, end = lines.length;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (/^\[/.test(l)) { if (inLinbo) { end = i; break; } inLinbo = /^\[linbo\]/i.test(l); if (inLinbo) start = i; continue; }
    if (inLinbo) {
      const m = l.match(/^([A-Za-z][A-Za-z0-9_]*)\s*=/);
      if (m && m[1].toLowerCase() === key.toLowerCase()) {
        const c = l.indexOf(" #"); lines[i] = key + " = " + value + (c > 0 ? l.slice(c) : ""); return lines.join("\n");
      }
    }
  }
  if (start < 0) return "[LINBO]\n" + key + " = " + value + "\n" + text;
  lines.splice(start + 1, 0, key + " = " + value);
  return lines.join("\n");
}
async function pageGroups() {
  const list = h("div", {}), editor = h("div", {}), out = h("div", {}), chainOut = h("div", { id: "chain-status" });
  const [wn, n] = field(t("name"), { id: "new-group" });
  const nb = h("button", { type: "submit" }, t("new_group"));
  const nf = h("form", { class: "card" }, h("h2", {}, t("new_group")), wn, nb, out);
  nf.addEventListener("submit", action(nb, out, async () => { await api("PUT", "/api/v1/groups/" + encodeURIComponent(n.value.trim()), { description: "" }); const g = n.value.trim(); n.value = ""; await load(); open(g); }));
  main.append(h("h1", {}, t("groups")), list, chainOut, editor, nf);
  async function load() {
    const groups = await api("GET", "/api/v1/groups");
    list.replaceChildren(table([t("name"), t("startconf"), t("count"), t("chain"), ""], groups.map(g => {
      const e = h("button", { type: "button", class: "sec", "data-group": g.name }, t("edit")); e.addEventListener("click", () => open(g.name));
      const cs = h("select", { "aria-label": t("chain") + " " + g.name, "data-group-chain": g.name, title: t("chain_hint") });
      for (const v of ["ipxe", "grub"]) cs.append(h("option", { value: v, selected: v === g.chain }, t("chain_" + v)));
      cs.addEventListener("change", action(cs, chainOut, async () => { await api("PUT", "/api/v1/groups/" + encodeURIComponent(g.name) + "/chain", { chain: cs.value }); msg(chainOut, t("saved") + ": " + g.name, true); }));
      return h("tr", {}, h("td", {}, g.name), h("td", {}, g.has_start_conf ? "✓" : h("span", { class: "warn" }, t("missing"))), h("td", {}, g.hosts), h("td", {}, cs), h("td", {}, e));
    })));
  }
  async function open(name) {
    const g = await api("GET", "/api/v1/groups/" + encodeURIComponent(name));
    const status = h("div", { id: "sc-status", role: "status", "aria-live": "polite" });
    const errs = h("div", { id: "sc-errors" });
    const [wd, desc] = field(t("description"), { value: g.description || "", id: "g-desc" });
    const [wr, raw] = field(t("startconf") + " (" + t("raw_view") + ")", { rows: "18", spellcheck: "false", id: "sc-raw" }, "textarea");
    raw.value = g.start_conf || ("[LINBO]\nServer = 10.0.0.1\nGroup = " + name + "\nCache = /dev/sda4\nSystemType = efi64\nDownloadType = rsync\nKernelOptions = quiet splash\n");
    const formView = h("fieldset", { id: "sc-form" }, h("legend", {}, t("form_view") + " [LINBO]"));
    const inputs = {};
    for (const k of LINBO_KEYS) {
      const [w, i] = field(k, { id: "sc-" + k.toLowerCase(), name: k });
      i.addEventListener("input", () => { raw.value = setLinboKey(raw.value, k, i.value); validate(); });
      inputs[k] = [w, i]; formView.append(w);
    }
    const save = h("button", { type: "submit", id: "sc-save" }, t("save"));
    const cancel = h("button", { type: "button", class: "sec" }, t("cancel"));
    cancel.addEventListener("click", () => editor.replaceChildren());
    const form = h("form", { class: "card" }, h("h2", {}, t("group") + " " + name), wd, h("div", { class: "row" }, h("div", {}, formView), h("div", {}, wr)), errs, status, save, cancel);
    let timer;
    raw.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(validate, 300); });
    // The form shows the [LINBO] values of the raw text, valid or not.
    function fill() {
      const lower = {};
      let inLinbo = false;
      for (const l of raw.value.split("\n")) {
        if (/^\[/.test(l)) { inLinbo = /^\[linbo\]/i.test(l); continue; }
        const m = inLinbo && l.match(/^([A-Za-z][A-Za-z0-9_]*)\s*=\s*(.*?)(\s+#.*)?$/);
        if (m && !(m[1].toLowerCase() in lower)) lower[m[1].toLowerCase()] = m[2];
      }
      for (const k of LINBO_KEYS) { const i = inputs[k][1]; if (document.activeElement !== i) i.value = lower[k.toLowerCase()] || ""; }
    }
    function show(v) {
      raw.setAttribute("aria-invalid", v.valid ? "false" : "true");
      status.replaceChildren(h("span", { class: v.valid ? "ok" : "err" }, v.valid ? t("valid") : t("invalid").split(" – ")[0]));
      errs.replaceChildren(...(v.errors || []).map(e => h("p", { class: "err", "data-line": e.line }, t("line") + " " + e.line + ": " + e.message)),
        ...(v.warnings || []).map(e => h("p", { class: "warn" }, t("line") + " " + e.line + ": " + e.message)));
      fill();
      formView.querySelectorAll(".field-err").forEach(x => x.remove());
      for (const k of LINBO_KEYS) inputs[k][1].removeAttribute("aria-invalid");
      for (const e of v.errors || []) {
        const k = LINBO_KEYS.find(k => e.message.toLowerCase().startsWith(k.toLowerCase() + " ="));
        if (!k) continue;
        const [w, i] = inputs[k];
        const id = "err-" + k.toLowerCase();
        i.setAttribute("aria-invalid", "true"); i.setAttribute("aria-describedby", id);
        w.append(h("p", { class: "err field-err", id }, e.message));
      }
    }
    async function validate() { try { show(await api("POST", "/api/v1/startconf/validate", { text: raw.value })); } catch (e) { msg(errs, e.message); } }
    form.addEventListener("submit", action(save, errs, async () => {
      try {
        const r = await api("PUT", "/api/v1/groups/" + encodeURIComponent(name), { description: desc.value, start_conf: raw.value });
        if (r.start_conf) raw.value = r.start_conf;
        status.replaceChildren(h("span", { class: "ok", id: "sc-saved" }, t("saved")));
        load();
      } catch (e) {
        if (e.body && e.body.errors) { show({ valid: false, errors: e.body.errors }); status.replaceChildren(h("span", { class: "err", id: "sc-notsaved" }, t("invalid"))); }
        else throw e;
      }
    }));
    editor.replaceChildren(form); validate(); raw.focus();
  }
  await load();
}

// ----- images ---------------------------------------------------------------------
async function pageImages() {
  const list = h("div", {}), out = h("div", { id: "up-msg" });
  const [wf, file] = field(t("image_file"), { type: "file", accept: ".qcow2,.qdiff", id: "img-file" });
  const [wc, comment] = field(t("comment"), { id: "img-comment" });
  const prog = h("progress", { id: "up-progress", max: "100", value: "0", hidden: true, "aria-label": t("uploading") });
  const pct = h("span", { id: "up-pct", "aria-live": "polite" });
  const btn = h("button", { type: "submit", id: "up-btn" }, t("upload"));
  const form = h("form", { class: "card" }, h("h2", {}, t("upload")), wf, wc, btn, h("div", {}, prog, " ", pct), out);
  form.addEventListener("submit", ev => {
    ev.preventDefault();
    const f = file.files[0];
    if (!f) { msg(out, t("image_file") + "?"); return; }
    const base = f.name.replace(/\.(qcow2|qdiff)$/, "");
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", "/api/v1/images/" + encodeURIComponent(base) + "/files/" + encodeURIComponent(f.name) + "?comment=" + encodeURIComponent(comment.value));
    xhr.setRequestHeader("X-CSRF-Token", CSRF());
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    prog.hidden = false; prog.value = 0; btn.disabled = true; msg(out, "");
    pct.textContent = t("uploading");
    xhr.upload.onprogress = e => { if (e.lengthComputable) { prog.value = Math.round(100 * e.loaded / e.total); pct.textContent = prog.value + " %"; } };
    xhr.onload = () => {
      btn.disabled = false;
      let b = null; try { b = JSON.parse(xhr.responseText); } catch (e) { b = null; }
      if (xhr.status >= 200 && xhr.status < 300) { prog.value = 100; pct.textContent = "100 %"; msg(out, t("uploaded") + " " + f.name + " (" + fmtBytes(b && b.size) + ")", true); load(); }
      else msg(out, t("error") + ": " + ((b && b.error && b.error.message) || xhr.status));
    };
    xhr.onerror = () => { btn.disabled = false; msg(out, t("error") + ": network"); };
    xhr.send(f);
  });
  main.append(h("h1", {}, t("images")), await transfersSection(), list, form);
  async function load() {
    const imgs = await api("GET", "/api/v1/images");
    if (!imgs.length) { list.replaceChildren(h("p", {}, t("none"))); return; }
    list.replaceChildren(...imgs.map(img => h("section", { class: "card" }, h("h2", {}, img.name),
      table([t("version"), t("size"), t("time"), t("comment"), ""], img.versions.map(v => {
        const cell = h("td", {});
        if (v.backup) {
          const r = h("button", { type: "button", class: "sec" }, t("restore"));
          r.addEventListener("click", action(r, out, async () => { if (!confirm(t("confirm"))) return; await api("POST", "/api/v1/images/" + encodeURIComponent(img.name) + "/backups/" + encodeURIComponent(v.backup) + "/restore"); load(); }));
          const d = h("button", { type: "button", class: "danger" }, t("delete"));
          d.addEventListener("click", action(d, out, async () => { if (!confirm(t("confirm"))) return; await api("DELETE", "/api/v1/images/" + encodeURIComponent(img.name) + "/backups/" + encodeURIComponent(v.backup)); load(); }));
          cell.append(r, d);
        }
        return h("tr", {}, h("td", {}, v.file + " (" + (v.backup ? t("backups") + " " + v.backup : t("current")) + ")"), h("td", {}, fmtBytes(v.size)), h("td", {}, v.timestamp || "–"), h("td", {}, v.comment), cell);
      })))));
  }
  await load();
}

// ----- events -----------------------------------------------------------------------
async function pageEvents() {
  const [wk, kind] = select(t("kind"), [["", t("all")], ["audit", t("audit")], ["system", t("system")]], "", { id: "ev-kind" });
  const list = h("div", {});
  main.append(h("h1", {}, t("events")), h("div", { class: "filters" }, wk), h("p", { class: "hint" }, t("live_on")), list);
  const row = e => h("tr", {}, h("td", {}, fmtTime(e.time_ms)), h("td", {}, e.kind), h("td", {}, e.actor), h("td", { class: "mono" }, e.action), h("td", {}, e.message));
  let body;
  async function load() {
    const ev = await api("GET", "/api/v1/events?limit=300&kind=" + kind.value);
    const tb = table([t("time"), t("kind"), t("actor"), t("action"), t("message")], ev.map(row));
    body = tb.querySelector("tbody"); list.replaceChildren(tb);
  }
  kind.addEventListener("change", load);
  listeners.push(evs => { for (const e of evs) if (!kind.value || kind.value === e.kind) body.prepend(row(e)); });
  await load();
}

// ----- settings -----------------------------------------------------------------------
async function pageSettings() {
  const d = await api("GET", "/api/v1/settings");
  const s = d.settings || {};
  const out = h("div", {});
  const [ws, school] = field(t("school_name"), { value: s.school_name || "", name: "school_name" });
  const [wi, iface] = select(t("iface"), [["", "–"]].concat((d.interfaces || []).map(i => [i, i])), s.interface || "", { name: "interface" });
  const [wip, ip] = field(t("server_ip"), { value: s.server_ip || "", name: "server_ip", inputmode: "decimal" });
  const [wd, dh] = select(t("dhcp"), [["proxy", t("dhcp_proxy")], ["full", t("dhcp_full")], ["off", t("dhcp_off")]], s.dhcp_mode || "proxy", { name: "dhcp_mode" });
  const [wdom, dom] = field(t("win_domain"), { value: s.windows_domain || "", name: "windows_domain", autocomplete: "off" });
  const sb = h("button", { type: "submit" }, t("save_settings"));
  const addr = addressFields(s);
  const f1 = h("form", { class: "card" }, h("h2", {}, t("school")), ws, wi, wip, ...addr.el, wd, h("p", { class: "hint" }, t("net_restart")), wdom, h("p", { class: "hint" }, t("win_domain_hint")), sb, out, h("p", {}, h("a", { href: "/setup" }, t("rerun")), " · ", h("a", { href: "/api/v1/openapi.json" }, t("api_doc"))),
    h("p", { class: "hint" }, t("enrolled") + ": " + (d.enrolment_url || t("none"))));
  f1.addEventListener("submit", action(sb, out, async () => { await api("PUT", "/api/v1/settings", Object.assign({ school_name: school.value, interface: iface.value, server_ip: ip.value, dhcp_mode: dh.value, windows_domain: dom.value }, addr.value())); msg(out, t("saved"), true); }));
  const o2 = h("div", {});
  const [wc, cur] = field(t("current_pw"), { type: "password", autocomplete: "current-password" });
  const [wn, np] = field(t("new_pw"), { type: "password", autocomplete: "new-password" });
  const pb = h("button", { type: "submit" }, t("change_pw"));
  const f2 = h("form", { class: "card" }, h("h2", {}, t("change_pw")), wc, wn, pb, o2);
  f2.addEventListener("submit", action(pb, o2, async () => { await api("POST", "/api/v1/auth/password", { current: cur.value, new: np.value }); cur.value = np.value = ""; msg(o2, t("saved"), true); }));
  const all = h("button", { type: "button", class: "danger", id: "signout-all" }, t("signout_all"));
  all.addEventListener("click", action(all, o2, async () => { await api("POST", "/api/v1/auth/logout-all"); location.href = "/login"; }));
  f2.append(all);
  const o3 = h("div", {}), tl = h("div", {});
  const [wtn, tn] = field(t("name"), { id: "tok-name", placeholder: "ci-upload" });
  const [wsc, sc] = select(t("scope"), [["read", "read"], ["images", "images"], ["admin", "admin"]], "images", { id: "tok-scope" });
  const tb = h("button", { type: "submit" }, t("create_token"));
  const f3 = h("form", { class: "card" }, h("h2", {}, t("tokens")), tl, wtn, wsc, tb, o3);
  f3.addEventListener("submit", action(tb, o3, async () => { const r = await api("POST", "/api/v1/tokens", { name: tn.value.trim(), scope: sc.value }); o3.replaceChildren(h("div", { class: "msg ok", role: "status" }, t("token_once"), h("pre", { class: "mono" }, r.token))); tn.value = ""; loadTokens(); }));
  async function loadTokens() {
    const toks = await api("GET", "/api/v1/tokens");
    tl.replaceChildren(toks.length ? table([t("name"), t("scope"), t("created"), t("last_used"), ""], toks.map(x => {
      const r = h("button", { type: "button", class: "danger" }, t("revoke"));
      r.addEventListener("click", action(r, o3, async () => { if (!confirm(t("confirm"))) return; await api("DELETE", "/api/v1/tokens/" + encodeURIComponent(x.name)); loadTokens(); }));
      return h("tr", {}, h("td", {}, x.name), h("td", {}, x.scope), h("td", {}, fmtTime(x.created_ms)), h("td", {}, x.last_used_ms ? fmtTime(x.last_used_ms) : t("never")), h("td", {}, r));
    })) : h("p", {}, t("none")));
  }
  main.append(h("h1", {}, t("settings")), f1, f2, f3);
  await loadTokens();
  main.append(await tlsCard());
  main.append(await firmwareCard());
}

// ----- appliance firmware (issue 8): state and signed update upload ------------------
const FW_T = {
  en: { title: "Firmware", running: "Running", slot: "Slot", version: "Version", order: "Boot order", state: "State", install: "Install update", bundle: "Update bundle (.bundle)",
    rebooting: "Installed {v} into slot {s}. The box restarts now and tries it once; if it does not come up, the box returns to the current firmware.",
    not_appliance: "Not running as the appliance firmware: updates are installed on the box itself.", ok: "ok", failed: "empty or failed" },
  de: { title: "Firmware", running: "Läuft", slot: "Slot", version: "Version", order: "Startreihenfolge", state: "Zustand", install: "Update installieren", bundle: "Update-Paket (.bundle)",
    rebooting: "{v} in Slot {s} installiert. Die Box startet jetzt neu und probiert es einmal; kommt es nicht hoch, kehrt sie zur aktuellen Firmware zurück.",
    not_appliance: "Läuft nicht als Appliance-Firmware: Updates werden auf der Box selbst installiert.", ok: "ok", failed: "leer oder fehlgeschlagen" },
};
const fwt = k => (FW_T[LANG] || FW_T.en)[k];
async function firmwareCard() {
  const card = h("section", { class: "card", id: "firmware" }, h("h2", {}, fwt("title")));
  let st;
  try { st = await api("GET", "/api/v1/firmware"); } catch (e) { msg(card, t("error") + ": " + e.message); return card; }
  if (!st.appliance) { card.append(h("p", { class: "hint" }, fwt("not_appliance"))); return card; }
  card.append(h("p", {}, fwt("running") + ": " + fwt("slot") + " " + st.running + " · " + fwt("version") + " " + (st.version || "–")),
    table([fwt("slot"), fwt("state"), fwt("version")], ["a", "b"].map(k => h("tr", {}, h("td", {}, k.toUpperCase()),
      h("td", {}, st.slots[k].ok ? fwt("ok") : fwt("failed")), h("td", {}, st.slots[k].version || "–")))),
    h("p", {}, fwt("order") + ": " + st.slots.order.join(" ")));
  const out = h("div", {});
  const [wf, file] = field(fwt("bundle"), { type: "file", id: "fw-file", accept: ".bundle" });
  const btn = h("button", { type: "submit", id: "fw-install" }, fwt("install"));
  const form = h("form", {}, wf, btn, out);
  form.addEventListener("submit", action(btn, out, async () => {
    const f = file.files[0];
    if (!f) { msg(out, fwt("bundle") + "?"); return; }
    if (!confirm(t("confirm"))) return;
    const r = await fetch("/api/v1/firmware", { method: "POST", credentials: "same-origin", body: f,
      headers: { "X-CSRF-Token": CSRF(), "Content-Type": "application/octet-stream", "Accept": "application/json" } });
    let b = null; try { b = await r.json(); } catch (e) { b = null; }
    if (!r.ok) throw new ApiErr(r.status, b);
    msg(out, fwt("rebooting").replace("{v}", b.installed).replace("{s}", b.slot), true);
  }));
  card.append(form);
  return card;
}

const pages = { login: pageLogin, setup: pageSetup, dashboard: pageDashboard, hosts: pageHosts, import: pageImport, rooms: pageRooms, groups: pageGroups, images: pageImages, events: pageEvents, settings: pageSettings };
chrome();
// Extensions (webui/remote.js, loaded before this file) add pages, texts and nav entries.
for (const ext of window.BootboxExt || []) ext({ h, field, select, msg, api, table, action, fmtTime, t, T, LANG, PAGE, main, listeners, pages });
main.replaceChildren();
Promise.resolve().then(() => (pages[PAGE] || pageLogin)()).catch(e => msg(main, t("error") + ": " + e.message)).finally(() => B.setAttribute("data-ready", "1"));
})();
