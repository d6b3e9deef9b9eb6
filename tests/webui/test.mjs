// Browser tests of the Bootbox UI: headless Debian chromium via playwright-core.
// Needs BASE (server URL, fresh data dir) and ARTIFACTS (screenshot folder).
import { chromium } from "playwright-core";
import fs from "node:fs";
import crypto from "node:crypto";
import { execFileSync } from "node:child_process";
import os from "node:os";
import path from "node:path";

const BASE = process.env.BASE;
const HTTPS_BASE = process.env.HTTPS_BASE || "";
const TLS_CERT = process.env.TLS_CERT || "";
const NETNS = process.env.NETNS || "";
const FIXTURE_BASE = process.env.FIXTURE_BASE || "";
const ART = process.env.ARTIFACTS || "/tmp/bootbox-webui-artifacts";
const PW = "Schule-2025-geheim";
fs.mkdirSync(ART, { recursive: true });
let passed = 0, failed = 0;
const log = (...a) => console.log(...a);

async function test(name, fn) {
  try { await fn(); passed++; log("ok   " + name); }
  catch (e) { failed++; log("FAIL " + name + ": " + (e && e.stack || e)); await shot("FAILED-" + name.replace(/\W+/g, "_")).catch(() => {}); }
}
function assert(c, m) { if (!c) throw new Error("assertion failed: " + m); }
// Polls `cond` from Node (the UI's CSP forbids eval, so no waitForFunction).
async function until(cond, what, ms = 15000) {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await cond()) return; await new Promise(r => setTimeout(r, 100)); }
  throw new Error("timed out waiting for " + what);
}

const userData = fs.mkdtempSync(path.join(os.tmpdir(), "bbx-chromium-"));
const ctx = await chromium.launchPersistentContext(userData, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  locale: "en-US",
  viewport: { width: 1280, height: 900 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = ctx.pages()[0] || await ctx.newPage();
const consoleErrors = [];
page.on("pageerror", e => consoleErrors.push(String(e)));
async function shot(name) { await page.screenshot({ path: path.join(ART, name + ".png"), fullPage: true }); }
async function ready() { await page.waitForSelector("body[data-ready]"); }
async function go(p) { await page.goto(BASE + p); await ready(); }
async function apiGet(p) { return page.evaluate(async u => (await fetch(u)).json(), p); }
// Every visible form control has a label (or aria-label).
async function labelsOk() {
  const bad = await page.evaluate(() => [...document.querySelectorAll("input,select,textarea")]
    .filter(e => e.type !== "hidden" && !(e.labels && e.labels.length) && !e.getAttribute("aria-label"))
    .map(e => e.outerHTML.slice(0, 80)));
  assert(bad.length === 0, "controls without label: " + bad.join(" | "));
}

await test("root redirects to the setup wizard on a fresh box", async () => {
  await go("/");
  assert(page.url().endsWith("/setup"), page.url());
  await labelsOk();
  await shot("01-setup-admin");
});

await test("setup wizard completes and ends on the dashboard", async () => {
  await page.fill("input[name=password]", "short");
  await page.click("#next");
  assert(await page.isVisible("text=at least 10 characters"), "short password refused");
  await page.fill("input[name=password]", PW);
  await page.fill("input[name=password2]", PW);
  await page.click("#next");
  await page.fill("input[name=school_name]", "Gesamtschule Am Park");
  const ifaces = await page.$$eval("select[name=interface] option", o => o.map(x => x.value).filter(Boolean));
  if (ifaces.length) {
    await page.selectOption("select[name=interface]", ifaces[0]);
    await page.fill("input[name=server_ip]", "10.0.0.5");
    await page.check("#dhcp-proxy");
  } else {
    await page.check("#dhcp-off");
  }
  await labelsOk();
  await shot("02-setup-school");
  await page.click("#next");
  // Network check. Only inside the test's own network namespace (dummy
  // interface, nothing answers): never probe a real interface.
  await page.waitForSelector("h2:text('Network check')");
  if (NETNS && ifaces.length) {
    assert(ifaces[0] === "bbx0" && ifaces.every(i => i.startsWith("bbx")), "only the namespace's veth interfaces: " + ifaces);
    await page.click("#preflight");
    await page.waitForSelector("#preflight-result li[data-code=none_proxy]", { timeout: 30000 });
    assert(/No DHCP server found/.test(await page.textContent("#preflight-result")), "pre-flight result text");
    await labelsOk();
    await shot("02b-setup-network-check");
  } else {
    log("     (network check skipped: not running in a test network namespace)");
  }
  await page.click("#next");
  assert(await page.isVisible("text=linbo64"), "boot file check shown");
  const k = path.join(userData, "linbo64"), i = path.join(userData, "linbofs64");
  fs.writeFileSync(k, Buffer.alloc(2 << 20, 1)); fs.writeFileSync(i, Buffer.alloc(3 << 20, 2));
  await page.setInputFiles("#bf-linbo64", k);
  await page.setInputFiles("#bf-linbofs64", i);
  await shot("03-setup-bootfiles");
  await page.click("#next");
  // A linuxmuster export (.tar.gz as the UI hint describes it).
  const lm = path.join(userData, "lm");
  fs.mkdirSync(path.join(lm, "etc/linuxmuster/sophomorix/default-school"), { recursive: true });
  fs.mkdirSync(path.join(lm, "srv/linbo"), { recursive: true });
  fs.writeFileSync(path.join(lm, "etc/linuxmuster/sophomorix/default-school/devices.csv"),
    "lm1;lm1-pc01;lmgroup;00:1a:2b:3c:5f:01;10.0.50.1;;;;;;1\nlm1;lm1-pc02;lmgroup;00:1a:2b:3c:5f:02;10.0.50.2;;;;;;1\n");
  fs.writeFileSync(path.join(lm, "srv/linbo/start.conf.lmgroup"), "[LINBO]\nServer = 10.0.0.5\nGroup = lmgroup\nCache = /dev/sda4\n");
  const lmArchive = path.join(userData, "export.tar.gz");
  execFileSync("tar", ["czf", lmArchive, "-C", lm, "etc", "srv"]);
  await page.setInputFiles("#lm-file", lmArchive);
  await labelsOk();
  await shot("04-setup-devices");
  await page.click("#next");
  await page.fill("input[name=enrol_url]", "https://central.example.org");
  await page.fill("input[name=enrol_token]", "enrol-token-0123456789");
  await shot("05-setup-enrol");
  await page.click("#next");
  // The linuxmuster export: dry-run preview first, nothing imported yet.
  await page.waitForSelector("#lm-summary");
  assert(/2 hosts added/.test(await page.textContent("#lm-summary")), "lm preview: " + await page.textContent("#lm-summary"));
  assert(/start\.conf\.lmgroup/.test(await page.textContent("#lm-result")), "start.conf found");
  assert((await apiGet("/api/v1/hosts")).length === 0, "dry run imported nothing");
  await labelsOk();
  await shot("05b-setup-linuxmuster-preview");
  await page.click("#lm-commit");
  await page.waitForSelector("#lm-summary:has-text('Result')");
  assert((await apiGet("/api/v1/hosts")).length === 2, "linuxmuster hosts imported");
  assert((await apiGet("/api/v1/groups/lmgroup")).start_conf.includes("Group = lmgroup"), "start.conf imported");
  await shot("05c-setup-linuxmuster-done");
  await Promise.all([page.waitForURL(/\/dashboard$/), page.click("#lm-done")]);
  await ready();
  assert(await page.isVisible("text=What happens when a PC boots"), "dashboard story");
  assert(!(await page.isVisible("text=Boot files are missing")), "boot files uploaded in the wizard");
  assert(/No image transfers are running/.test(await page.textContent("#transfers")), "transfers section on the dashboard");
  await shot("06-dashboard");
});

await test("sign out, wrong password refused, sign in with the keyboard", async () => {
  await Promise.all([page.waitForURL(/\/login$/), page.click("#signout")]);
  await ready();
  await labelsOk();
  await page.fill("input[name=password]", "wrong-password");
  await page.click("button[type=submit]");
  await page.waitForSelector("[role=alert]");
  assert(/wrong user name or password/i.test(await page.textContent("[role=alert]")), "bad credentials message");
  await shot("07-login-error");
  // Keyboard only: focus the user name, type, Tab, type, Enter.
  await page.focus("input[name=username]");
  await page.keyboard.press("Control+A");
  await page.keyboard.type("admin");
  await page.keyboard.press("Tab");
  await page.keyboard.type(PW);
  await Promise.all([page.waitForURL(/\/dashboard$/), page.keyboard.press("Enter")]);
  await ready();
});

const CSV = [
  "r100;r100-pc01;win11;00:1a:2b:3c:4d:01;10.0.100.1;;;;;;1",
  "r100;r100-pc02;win11;00:1a:2b:3c:4d:02;10.0.100.2;;;;;;1",
  "r100;r100-pc03;win11;00:1a:2b:3c:4d:zz;10.0.100.3;;;;;;1",
  "r100;r100-pc04;win11;00:1a:2b:3c:4d:04;10.0.100.4;;;;;;1",
  "r100;r100-pc05;win11;00:1a:2b:3c:4d:05;10.0.100.999;;;;;;1",
  "r101;r101-pc01;win11;00:1a:2b:3c:4e:01;DHCP;;;;;;1",
  "r101;r101_pc/../x;win11;00:1a:2b:3c:4e:02;10.0.101.2;;;;;;1",
  "r101;r101-pc03;win11;00:1a:2b:3c:4e:03;10.0.101.3;;;;;;1",
].join("\n") + "\n";

await test("devices.csv import: errors at their lines, dry run imports nothing, commit imports the good lines", async () => {
  await go("/import");
  await labelsOk();
  await page.fill("#csv-text", CSV);
  await page.click("#dry");
  await page.waitForSelector("#import-error");
  const lines = await page.$$eval("tr.bad", r => r.map(x => Number(x.dataset.line)));
  assert(JSON.stringify(lines) === "[3,5,7]", "error lines " + JSON.stringify(lines));
  await shot("08-import-errors");
  const csvHosts = async () => (await apiGet("/api/v1/hosts")).filter(x => x.room.startsWith("r10"));
  let hosts = await csvHosts();
  assert(hosts.length === 0, "dry run imported nothing, got " + hosts.length);
  await page.check("#skip-invalid");
  await page.click("#dry");
  await page.waitForSelector("#import-summary");
  assert(/5 hosts added/.test(await page.textContent("#import-summary")), "dry run summary");
  hosts = await csvHosts();
  assert(hosts.length === 0, "still nothing after dry run, got " + hosts.length);
  await page.click("#commit");
  await page.waitForSelector("#import-summary:has-text('Result')");
  hosts = await csvHosts();
  assert(hosts.length === 5, "5 good lines imported, got " + hosts.length);
  await shot("09-import-done");
});

await test("hosts page filters, edits and shows the timeline", async () => {
  await go("/hosts");
  await labelsOk();
  await page.selectOption("#f-room", "r101");
  await until(async () => (await page.locator("tbody tr").count()) === 2, "2 hosts in r101");
  await page.fill("#f-q", "pc03");
  await until(async () => (await page.locator("tbody tr").count()) === 1, "1 host matching pc03");
  await page.click("text=Timeline");
  await page.waitForSelector("text=Nothing recorded yet.");
  await page.click("text=Edit");
  await labelsOk();
  await shot("10-hosts");
  await page.fill("#detail-ip", "10.0.101.33");
  await page.selectOption("#detail-chain", "grub");
  await page.click("#host-save");
  await page.waitForSelector("text=Saved.");
  const h = (await apiGet("/api/v1/hosts?q=r101-pc03"))[0];
  assert(h.ip === "10.0.101.33", "host edited: " + JSON.stringify(h));
  assert(h.chain === "grub" && h.effective_chain === "grub", "boot chain set: " + JSON.stringify(h));
  await until(async () => (await page.locator("td[data-chain=grub]").count()) === 1, "GRUB shown in the list");
});

await test("groups page sets a group's boot chain", async () => {
  await go("/groups");
  await page.selectOption("select[data-group-chain=win11]", "grub");
  await page.waitForSelector("#chain-status .ok");
  const g = (await apiGet("/api/v1/groups")).find(x => x.name === "win11");
  assert(g && g.chain === "grub", "group chain saved: " + JSON.stringify(g));
  await page.selectOption("select[data-group-chain=win11]", "ipxe");
  await until(async () => (await apiGet("/api/v1/groups")).find(x => x.name === "win11").chain === "ipxe", "group chain back to iPXE");
});

const GOOD = "[LINBO]\nServer = 10.0.0.5\nGroup = win11\nCache = /dev/sda4\nRootTimeout = 600\nSystemType = efi64\nDownloadType = rsync\nKernelOptions = quiet splash\n";
const BAD = GOOD.replace("RootTimeout = 600", "RootTimeout = soon");

await test("start.conf editor: invalid value shows an inline error and is not saved; valid is saved", async () => {
  await go("/groups");
  await page.click("button[data-group=win11]");
  await page.waitForSelector("#sc-raw");
  await labelsOk();
  await page.fill("#sc-raw", BAD);
  await page.waitForSelector("#sc-errors .err[data-line='5']");
  // The error is also shown at the field of the form view.
  await page.waitForSelector("#err-roottimeout");
  assert(await page.getAttribute("#sc-roottimeout", "aria-invalid") === "true", "field marked invalid");
  await page.click("#sc-save");
  await page.waitForSelector("#sc-notsaved");
  let g = await apiGet("/api/v1/groups/win11");
  assert(g.start_conf === null, "invalid start.conf not saved");
  await shot("11-startconf-invalid");
  await page.fill("#sc-raw", GOOD);
  await page.waitForSelector("#sc-status .ok:text-is('Valid')");
  // The form view follows the raw text and edits it back.
  assert(await page.inputValue("#sc-kerneloptions") === "quiet splash", "form view filled");
  await page.fill("#sc-kerneloptions", "quiet splash nomodeset");
  await page.click("#sc-save");
  await page.waitForSelector("#sc-saved");
  g = await apiGet("/api/v1/groups/win11");
  assert(g.start_conf && g.start_conf.includes("KernelOptions = quiet splash nomodeset"), "saved: " + g.start_conf);
  await shot("12-startconf-saved");
});

await test("image upload shows a progress bar and lands in the catalogue", async () => {
  await go("/images");
  await page.waitForSelector("#transfers");
  await labelsOk();
  const file = path.join(userData, "win11.qcow2");
  fs.writeFileSync(file, Buffer.alloc(24 << 20, 7));
  await page.setInputFiles("#img-file", file);
  await page.fill("#img-comment", "browser test");
  await page.click("#up-btn");
  await page.waitForSelector("#up-progress:not([hidden])");
  await shot("13-image-uploading");
  await page.waitForSelector("#up-msg .msg.ok", { timeout: 60000 });
  assert(await page.isVisible("#up-progress"), "progress bar visible");
  assert(await page.getAttribute("#up-progress", "value") === "100" || await page.$eval("#up-progress", e => e.value) === 100, "progress at 100");
  await page.waitForSelector("text=win11.qcow2");
  await shot("14-image-done");
});

await test("rooms, events and settings pages", async () => {
  await go("/rooms");
  await labelsOk();
  await page.fill("#room-name", "r102");
  await page.fill("#room-desc", "Physik");
  await page.click("text=Save");
  await page.waitForSelector("td:text('Physik')");
  await shot("15-rooms");
  await go("/settings");
  await labelsOk();
  await page.fill("#tok-name", "ci-upload");
  await page.click("text=Create token");
  await page.waitForSelector("pre.mono");
  assert((await page.textContent("pre.mono")).startsWith("bbx.ci-upload."), "token shown once");
  await shot("16-settings");
  // The box's own address: the fixed-address fields appear only for
  // "fixed", a gateway outside the subnet is refused in words, a valid one saved.
  if (NETNS) {
    await go("/settings");
    assert(!(await page.isVisible("input[name=gateway]")), "gateway hidden while the address comes from DHCP");
    await page.selectOption("select[name=interface]", "bbx0");
    await page.fill("input[name=server_ip]", "10.0.0.5");
    await page.selectOption("select[name=address_mode]", "static");
    await page.fill("input[name=prefix_len]", "24");
    await page.fill("input[name=gateway]", "10.0.1.1");
    await page.fill("input[name=dns]", "10.0.0.1, 9.9.9.9");
    await labelsOk();
    await page.click("text=Save settings");
    await page.waitForSelector("form .msg.err");
    assert(/gateway 10\.0\.1\.1 is not another address in 10\.0\.0\.5\/24/.test(await page.textContent("form .msg.err")), "gateway outside the subnet explained");
    await page.fill("input[name=gateway]", "10.0.0.1");
    await page.click("text=Save settings");
    await page.waitForSelector("form .msg.ok");
    await shot("16b-settings-fixed-address");
    const st = (await apiGet("/api/v1/settings")).settings;
    assert(st.address_mode === "static" && st.prefix_len === 24 && st.gateway === "10.0.0.1" && st.dns.join(" ") === "10.0.0.1 9.9.9.9", "fixed address saved: " + JSON.stringify(st));
    await page.selectOption("select[name=address_mode]", "dhcp");
    await page.click("text=Save settings");
    await page.waitForSelector("form .msg.ok");
    assert((await apiGet("/api/v1/settings")).settings.gateway == null, "back to DHCP drops the fixed fields");
  }
  await go("/events");
  await labelsOk();
  await page.selectOption("#ev-kind", "audit");
  await page.waitForSelector("td:text('image.upload')");
  await shot("17-events");
});

await test("remote command dialog: invalid command inline, on-boot job for one host, scheduled list and delete", async () => {
  await go("/remote");
  await labelsOk();
  await page.click("#rc-open");
  await page.waitForSelector("#rc-dialog[open]");
  await labelsOk();
  await page.selectOption("#rc-kind", "hosts");
  await page.selectOption("#rc-hosts", ["r101-pc01"]);
  // win11's start.conf has no [OS]: sync:1 cannot run there.
  await page.fill("#rc-commands", "sync:1");
  await page.waitForSelector("#rc-error-list li");
  assert(/\[OS\]/.test(await page.textContent("#rc-error-list")), "inline error names the start.conf problem");
  assert(await page.getAttribute("#rc-commands", "aria-invalid") === "true", "command field marked invalid");
  await page.click("#rc-run");
  await page.waitForSelector("#rc-error-list li");
  assert(await page.isVisible("#rc-dialog[open]"), "invalid list is not run");
  assert((await apiGet("/api/v1/remote/jobs")).length === 0, "no job started");
  await shot("22-remote-invalid");
  await page.fill("#rc-commands", "");
  await page.selectOption("#rc-cmd", "reboot");
  await page.click("#rc-add");
  assert(await page.inputValue("#rc-commands") === "reboot", "command built from the dropdown");
  await page.check("#rc-onboot");
  await page.waitForSelector("#rc-ok");
  await page.click("#rc-run");
  await page.waitForSelector("#rc-dialog:not([open])", { state: "attached" });
  await page.waitForSelector("#onboot-list tr[data-host='r101-pc01']");
  assert(/reboot/.test(await page.textContent("#onboot-list tr[data-host='r101-pc01']")), "pending .cmd listed");
  await page.waitForSelector("#job-detail tr[data-host='r101-pc01'][data-status='scheduled']");
  await shot("23-remote-onboot-scheduled");
  await page.click("#onboot-list button[data-delete='r101-pc01']");
  await page.waitForSelector("#onboot-empty");
  assert((await apiGet("/api/v1/remote/onboot")).length === 0, "the .cmd file is gone");
  const ev = await apiGet("/api/v1/events?kind=audit&limit=50");
  assert(ev.some(e => e.action === "remote.job.start") && ev.some(e => e.action === "remote.onboot.delete"), "job start and delete audited");
  await shot("24-remote-deleted");
  // The same dialog saves a schedule; the list toggles it and shows its (empty) history.
  await page.click("#rc-open");
  await page.waitForSelector("#rc-dialog[open]");
  await page.selectOption("#rc-kind", "room");
  await page.selectOption("#rc-room", "r101");
  await page.fill("#rc-commands", "reboot");
  await page.check("#rc-onboot");
  await page.click("#rc-sched summary");
  await labelsOk();
  await page.fill("#rc-sched-name", "r101-evening");
  await page.fill("#rc-sched-cron", "61 18 * * *");
  await page.click("#rc-sched-save");
  await page.waitForSelector("#rc-error-list li");
  assert(/cron/i.test(await page.textContent("#rc-error-list")), "bad cron shown inline");
  await page.fill("#rc-sched-cron", "30 18 * * mon,wed");
  await page.click("#rc-sched-save");
  await page.waitForSelector("#schedules button[data-toggle='r101-evening']");
  await page.click("#schedules button[data-toggle='r101-evening']");
  await until(async () => (await apiGet("/api/v1/remote/schedules/r101-evening")).enabled === false, "schedule disabled");
  await page.click("#schedules button[data-history='r101-evening']");
  await page.waitForSelector("#schedule-history h3");
  await shot("26-remote-schedules");
  // Failure mails: the SMTP password is stored but never shown again.
  await page.check("#mail-on");
  await page.fill("#mail-host", "smtp.school.example");
  await page.fill("#mail-port", "587");
  await page.fill("#mail-from", "bootbox@school.example");
  await page.fill("#mail-to", "it@school.example, hausmeister@school.example");
  await page.fill("#mail-user", "bootbox");
  await page.fill("#mail-pw", "relay-secret-123");
  await page.click("#mail-save");
  await page.waitForSelector("form[aria-labelledby=mail-h] .msg.ok");
  const m = await apiGet("/api/v1/remote/mail");
  assert(m.password_set === true && !JSON.stringify(m).includes("relay-secret") && m.to.length === 2, "mail settings: " + JSON.stringify(m));
  await go("/remote");
  assert(await page.inputValue("#mail-pw") === "", "password not sent back to the page");
});

await test("remote page: no serious accessibility violations, dialog open too", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bbx-chromium-axe-rc-"));
  const ax = await chromium.launchPersistentContext(dir, {
    executablePath: "/usr/bin/chromium", headless: true, locale: "de-DE", bypassCSP: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const axeSrc = fs.readFileSync(new URL("./node_modules/axe-core/axe.min.js", import.meta.url), "utf8");
  const problems = [];
  try {
    const p = ax.pages()[0] || await ax.newPage();
    async function check(what) {
      await p.addScriptTag({ content: axeSrc });
      const res = await p.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
      for (const v of res.violations)
        if (v.impact === "serious" || v.impact === "critical")
          problems.push(what + ": " + v.id + " (" + v.impact + ") " + v.nodes.map(n => n.target.join(" ")).slice(0, 3).join(", "));
    }
    await p.goto(BASE + "/login");
    await p.waitForSelector("body[data-ready]");
    await p.fill("input[name=password]", PW);
    await Promise.all([p.waitForURL(/dashboard$/), p.click("button[type=submit]")]);
    await p.goto(BASE + "/remote");
    await p.waitForSelector("body[data-ready]");
    assert(await p.isVisible("nav >> text=Fernsteuerung"), "German nav entry");
    await check("/remote");
    await p.click("#rc-open");
    await p.waitForSelector("#rc-dialog[open]");
    await p.check("#rc-onboot");
    await p.check("#rc-wake");
    await p.screenshot({ path: path.join(ART, "25-remote-dialog-de.png"), fullPage: true });
    await check("/remote dialog");
  } finally { await ax.close(); fs.rmSync(dir, { recursive: true, force: true }); }
  assert(problems.length === 0, "\n  " + problems.join("\n  "));
});

await test("audit log records every admin action of this test, with who and from where", async () => {
  const ev = await apiGet("/api/v1/events?kind=audit&limit=500");
  const actions = new Set(ev.map(e => e.action));
  for (const a of ["user.create", "setup", "bootfile.upload", "auth.login", "auth.logout", "import", "group.put", "image.upload", "room.put", "token.create"])
    assert(actions.has(a) || [...actions].some(x => x.startsWith(a)), "audit has " + a + " (have " + [...actions].join(",") + ")");
  assert(ev.filter(e => e.actor.startsWith("web:")).every(e => /@127\.0\.0\.1$/.test(e.actor)), "actor has address");
});

await test("HTTPS: the UI loads with the box's own certificate, cookies are Secure, a bad certificate upload is refused", async () => {
  assert(HTTPS_BASE && TLS_CERT, "the run script starts the box with --https");
  const fp = new crypto.X509Certificate(fs.readFileSync(TLS_CERT)).fingerprint256;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bbx-chromium-tls-"));
  // The certificate is self-signed: Chromium is told to accept it; its
  // fingerprint is then compared with the one the box shows.
  const hx = await chromium.launchPersistentContext(dir, {
    executablePath: "/usr/bin/chromium", headless: true, locale: "en-US", ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const p = hx.pages()[0] || await hx.newPage();
    p.on("pageerror", e => consoleErrors.push(String(e)));
    await p.goto(HTTPS_BASE + "/login");
    await p.waitForSelector("body[data-ready]");
    assert(p.url().startsWith("https://"), p.url());
    await p.fill("input[name=password]", PW);
    await Promise.all([p.waitForURL(/dashboard$/), p.click("button[type=submit]")]);
    const c = (await hx.cookies()).find(x => x.name === "bbx_session");
    assert(c && c.secure && c.httpOnly && c.sameSite === "Strict", "session cookie flags: " + JSON.stringify(c));
    await p.goto(HTTPS_BASE + "/settings");
    await p.waitForSelector("body[data-ready]");
    await p.waitForSelector("#tls-fp");
    assert((await p.textContent("#tls-fp")).trim() === fp, "fingerprint shown = certificate file's");
    await p.screenshot({ path: path.join(ART, "22-settings-https.png"), fullPage: true });
    await p.fill("#tls-cert", "this is not a certificate");
    await p.fill("#tls-key", "nor a key");
    await p.click("#tls-upload");
    await p.waitForSelector("#tls-form [role=alert]");
    const err = await p.textContent("#tls-form [role=alert]");
    assert(/BEGIN CERTIFICATE/.test(err) && /previous certificate stays in use/.test(err), err);
    assert((await p.textContent("#tls-fp")).trim() === fp, "old certificate kept");
    await p.screenshot({ path: path.join(ART, "23-settings-https-bad-cert.png"), fullPage: true });
  } finally { await hx.close(); fs.rmSync(dir, { recursive: true, force: true }); }
});

await test("running transfers: torrent and multicast cards with progress bars, updated live over SSE", async () => {
  assert(FIXTURE_BASE, "the run script starts the transfer fixture");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bbx-chromium-fx-"));
  const fx = await chromium.launchPersistentContext(dir, {
    executablePath: "/usr/bin/chromium", headless: true, locale: "en-US", bypassCSP: true,
    viewport: { width: 1280, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const p = fx.pages()[0] || await fx.newPage();
    p.on("pageerror", e => consoleErrors.push(String(e)));
    await p.goto(FIXTURE_BASE + "/login");
    await p.waitForSelector("body[data-ready]");
    await p.fill("input[name=password]", PW);
    await Promise.all([p.waitForURL(/dashboard$/), p.click("button[type=submit]")]);
    await p.waitForSelector("body[data-ready]");
    await p.waitForSelector("#transfers tr[data-image=win11]");
    const mc = "#transfers .mc[data-image='ubuntu.qcow2']";
    assert(await p.locator(mc + " progress").count() === 2, "one progress bar per receiver");
    assert(/sending/.test(await p.textContent(mc)), "multicast state shown");
    const first = await p.$eval(mc + " progress", e => e.value);
    await until(async () => (await p.$eval(mc + " progress", e => e.value)) !== first, "multicast progress moves without a reload");
    await p.screenshot({ path: path.join(ART, "24-dashboard-transfers.png"), fullPage: true });
    const axeSrc = fs.readFileSync(new URL("./node_modules/axe-core/axe.min.js", import.meta.url), "utf8");
    await p.addScriptTag({ content: axeSrc });
    const res = await p.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
    const bad = res.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v => v.id);
    assert(bad.length === 0, "axe on the transfers card: " + bad.join(", "));
    await p.goto(FIXTURE_BASE + "/images");
    await p.waitForSelector("body[data-ready]");
    await p.waitForSelector("#transfers tr[data-image=win11]");
    await p.screenshot({ path: path.join(ART, "25-images-transfers.png"), fullPage: true });
  } finally { await fx.close(); fs.rmSync(dir, { recursive: true, force: true }); }
});

await test("LINBO client status: host page shows last sync and error, dashboard warns of failing hosts (en, de)", async () => {
  assert(FIXTURE_BASE, "the run script starts the fixture (it seeds pc01 failing, pc02 synced after an older failure)");
  for (const locale of ["en-US", "de-DE"]) {
    const de = locale === "de-DE";
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bbx-chromium-cs-"));
    const fx = await chromium.launchPersistentContext(dir, {
      executablePath: "/usr/bin/chromium", headless: true, locale, bypassCSP: true,
      viewport: { width: 1280, height: 900 },
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--lang=" + locale],
    });
    try {
      const p = fx.pages()[0] || await fx.newPage();
      p.on("pageerror", e => consoleErrors.push(String(e)));
      await p.goto(FIXTURE_BASE + "/login");
      await p.waitForSelector("body[data-ready]");
      await p.fill("input[name=password]", PW);
      await Promise.all([p.waitForURL(/dashboard$/), p.click("button[type=submit]")]);
      await p.waitForSelector("body[data-ready]");
      await p.waitForSelector("#hosts-failing");
      const panel = await p.textContent("#hosts-failing");
      assert((de ? /Rechner mit Fehlermeldungen \(1\)/ : /Hosts reporting failures \(1\)/).test(panel), "failure panel title: " + panel);
      assert(await p.locator("#hosts-failing tr[data-host=pc01]").count() === 1, "pc01 listed as failing");
      assert(await p.locator("#hosts-failing tr[data-host=pc02]").count() === 0, "pc02 synced after its failure: not listed");
      assert(/rsync error: disk full/.test(panel), "failure text on the dashboard");
      await p.screenshot({ path: path.join(ART, "26-dashboard-failing-" + locale + ".png"), fullPage: true });
      await p.goto(FIXTURE_BASE + "/hosts");
      await p.waitForSelector("body[data-ready]");
      await p.waitForSelector("tr[data-host=pc01] td.client");
      assert(await p.getAttribute("tr[data-host=pc01] td.client", "data-failing") === "1", "pc01 row marked failing");
      assert(await p.getAttribute("tr[data-host=pc02] td.client", "data-failing") === "0", "pc02 row not failing");
      const row = await p.textContent("tr[data-host=pc01] td.client");
      assert(/win11\.qcow2/.test(row) && /2026-11-20 12:00/.test(row) && /disk full/.test(row), "list cell: " + row);
      await p.click("tr[data-host=pc01] button:has-text('" + (de ? "Verlauf" : "Timeline") + "')");
      await p.waitForSelector("#client-status");
      const sync = await p.textContent("#cs-sync");
      assert(/win11\.qcow2/.test(sync) && /2026-11-20 12:00/.test(sync) && /2026-11-22 18:30/.test(sync) && (de ? /wiederhergestellt/ : /restored/).test(sync), "last sync: " + sync);
      assert(await p.locator("#cs-error .msg.err").count() === 1, "last error highlighted");
      assert(/rsync error: disk full/.test(await p.textContent("#cs-error")), "last error text");
      await p.screenshot({ path: path.join(ART, "27-host-status-" + locale + ".png"), fullPage: true });
      await p.click("tr[data-host=pc02] button:has-text('" + (de ? "Verlauf" : "Timeline") + "')");
      await p.waitForSelector("#client-status[data-failing='0']");
      const older = await p.textContent("#cs-error");
      assert((de ? /älter als die letzte Synchronisation/ : /older than the last sync/).test(older), "older error marked: " + older);
    } finally { await fx.close(); fs.rmSync(dir, { recursive: true, force: true }); }
  }
});

await test("language switch to German and back", async () => {
  await go("/dashboard");
  await page.selectOption("#lang", "de");
  await page.waitForLoadState("load");
  await ready();
  assert(await page.getAttribute("html", "lang") === "de", "html lang de");
  assert(await page.isVisible("nav >> text=Übersicht"), "German nav");
  assert(await page.isVisible("text=Was passiert, wenn ein PC startet"), "German story");
  await shot("18-dashboard-de");
  for (const p of ["hosts", "import", "groups", "images", "settings"]) { await go("/" + p); await shot("19-" + p + "-de"); }
  await page.selectOption("#lang", "en");
  await page.waitForLoadState("load");
  await ready();
  assert(await page.isVisible("nav >> text=Dashboard"), "English again");
});

await test("German is the default when the browser asks for it", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bbx-chromium-de-"));
  const de = await chromium.launchPersistentContext(dir, {
    executablePath: "/usr/bin/chromium", headless: true, locale: "de-DE",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync", "--lang=de-DE"],
  });
  try {
    const p = de.pages()[0] || await de.newPage();
    await p.goto(BASE + "/login");
    await p.waitForSelector("body[data-ready]");
    assert(await p.getAttribute("html", "lang") === "de", "html lang de");
    assert(await p.isVisible("h1:text('Anmelden')"), "German sign-in");
    await p.screenshot({ path: path.join(ART, "20-login-de.png"), fullPage: true });
  } finally { await de.close(); fs.rmSync(dir, { recursive: true, force: true }); }
});

await test("axe-core: no serious or critical accessibility violations on any page", async () => {
  // A separate browser profile that lets axe's script in (the UI's CSP forbids injected scripts).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bbx-chromium-axe-"));
  const ax = await chromium.launchPersistentContext(dir, {
    executablePath: "/usr/bin/chromium", headless: true, locale: "en-US", bypassCSP: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const axeSrc = fs.readFileSync(new URL("./node_modules/axe-core/axe.min.js", import.meta.url), "utf8");
  const problems = [];
  try {
    const p = ax.pages()[0] || await ax.newPage();
    async function check(url) {
      await p.goto(BASE + url);
      await p.waitForSelector("body[data-ready]");
      await p.addScriptTag({ content: axeSrc });
      const res = await p.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
      for (const v of res.violations)
        if (v.impact === "serious" || v.impact === "critical")
          problems.push(url + ": " + v.id + " (" + v.impact + ") " + v.nodes.map(n => n.target.join(" ")).slice(0, 3).join(", "));
    }
    await check("/login");
    await p.fill("input[name=password]", PW);
    await Promise.all([p.waitForURL(/dashboard$/), p.click("button[type=submit]")]);
    for (const u of ["/dashboard", "/hosts", "/import", "/rooms", "/groups", "/images", "/events", "/settings", "/setup"]) await check(u);
  } finally { await ax.close(); fs.rmSync(dir, { recursive: true, force: true }); }
  assert(problems.length === 0, "\n  " + problems.join("\n  "));
});

await test("brute force: the sign-in locks with a clear message", async () => {
  await go("/dashboard");
  await Promise.all([page.waitForURL(/\/login$/), page.click("#signout")]);
  await ready();
  for (let i = 0; i < 5; i++) {
    await page.fill("input[name=password]", "wrong-" + i);
    await page.click("button[type=submit]");
    await page.waitForSelector("button[type=submit]:not([disabled])");
    await page.waitForSelector("[role=alert]:has-text('Wrong user name')");
  }
  await page.fill("input[name=password]", PW);
  await page.click("button[type=submit]");
  await page.waitForSelector("[role=alert]:has-text('locked')");
  const text = await page.textContent("[role=alert]");
  assert(/try again in \d+ seconds/.test(text), text);
  assert(page.url().endsWith("/login"), "still not signed in");
  await shot("21-login-locked");
});

await test("no script errors on any page", async () => {
  assert(consoleErrors.length === 0, consoleErrors.join("\n"));
});

await ctx.close();
fs.rmSync(userData, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
