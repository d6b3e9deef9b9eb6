// Drives the web UI of a Bootbox appliance VM in headless Chromium (Debian's
// package via playwright-core), for tests/appliance: what an admin does in
// the browser, on the real firmware.
//
//   node appliance.mjs wizard   BASE PASSWORD ADDRESS PREFIX GATEWAY
//       runs the setup wizard: admin account, interface eth0, the fixed
//       address ADDRESS/PREFIX with GATEWAY, ProxyDHCP; ends on the dashboard
//   node appliance.mjs firmware BASE PASSWORD BUNDLE
//       signs in, uploads BUNDLE with the settings page's firmware button
//       and waits for the "installed, restarting" message
//
// Run it inside the test's network namespace (the VM's LAN). Prints one
// line; exit status 0 on success. ARTIFACTS: where screenshots go.
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const [action, BASE, PW, ...rest] = process.argv.slice(2);
const ART = process.env.ARTIFACTS || os.tmpdir();
const userData = fs.mkdtempSync(path.join(os.tmpdir(), "bbx-appliance-chromium-"));
const ctx = await chromium.launchPersistentContext(userData, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  locale: "en-US",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = ctx.pages()[0] || await ctx.newPage();
page.setDefaultTimeout(60000);
const ready = () => page.waitForSelector("body[data-ready]");

async function wizard(address, prefix, gateway) {
  await page.goto(BASE + "/setup"); await ready();
  await page.fill("input[name=password]", PW);
  await page.fill("input[name=password2]", PW);
  await page.click("#next");
  await page.fill("input[name=school_name]", "Appliance-Schule");
  await page.selectOption("select[name=interface]", "eth0");
  await page.fill("input[name=server_ip]", address);
  await page.selectOption("select[name=address_mode]", "static");
  await page.fill("input[name=prefix_len]", prefix);
  await page.fill("input[name=gateway]", gateway);
  await page.check("#dhcp-proxy");
  await page.screenshot({ path: path.join(ART, "appliance-wizard-address.png"), fullPage: true });
  // Network check, boot files, devices, central server: nothing to do.
  for (let i = 0; i < 5; i++) await page.click("#next");
  await page.waitForURL(/\/dashboard$/);
  await ready();
  return "wizard finished: " + address + "/" + prefix;
}

async function firmware(bundle) {
  await page.goto(BASE + "/login"); await ready();
  await page.fill("input[name=username]", "admin");
  await page.fill("input[name=password]", PW);
  await Promise.all([page.waitForURL(/\/dashboard$/), page.press("input[name=password]", "Enter")]);
  await page.goto(BASE + "/settings"); await ready();
  await page.waitForSelector("#fw-install");
  await page.setInputFiles("#fw-file", bundle);
  page.once("dialog", d => d.accept());
  await page.click("#fw-install");
  const m = await page.waitForSelector("#firmware .msg", { timeout: 180000 });
  const text = await m.textContent();
  await page.screenshot({ path: path.join(ART, "appliance-firmware-installed.png"), fullPage: true });
  if (!/^Installed /.test(text)) throw new Error("firmware card says: " + text);
  return text;
}

let code = 0;
try {
  const out = action === "wizard" ? await wizard(...rest)
    : action === "firmware" ? await firmware(...rest)
    : (() => { throw new Error("usage: appliance.mjs wizard|firmware BASE PASSWORD ..."); })();
  console.log("ok " + out);
} catch (e) {
  code = 1;
  console.log("FAIL " + action + ": " + (e && e.message || e));
  await page.screenshot({ path: path.join(ART, "appliance-" + action + "-FAILED.png"), fullPage: true }).catch(() => {});
} finally {
  await ctx.close();
  fs.rmSync(userData, { recursive: true, force: true });
}
process.exit(code);
