// Takes the screenshots of docs/console/: every console page at 375 px and 1280 px wide, on a
// fresh server with a few invitations and members. Run from tests/js after a build:
//
//   node console-screenshots.mjs
//
// Not a test (its name does not end in .test.mjs); the console's tests are console.test.mjs.

import { mkdir } from "node:fs/promises";
import path from "node:path";

import { createClient } from "@base44/sdk";
import { chromium } from "playwright-core";

import { joinLink, startUsher } from "./harness.mjs";

const OUT = path.resolve(import.meta.dirname, "../../docs/console");
const PASSWORD = "correct horse battery";

const usher = await startUsher();
try {
  const app = await usher.createApp({ name: "Acme Notes", appUrl: "https://notes.acme.test/" });
  const base44 = createClient({ serverUrl: usher.serverUrl, appId: app.app_id, token: app.api_key });
  for (const [email, role] of [["grace@acme.test", "admin"], ["ada@acme.test", "user"]]) {
    await base44.users.inviteUser(email, role);
    const token = new URL(joinLink(await usher.waitForMail(email))).searchParams.get("token");
    await fetch(`${usher.serverUrl}/api/apps/${app.app_id}/invitations/accept`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token, full_name: email.startsWith("grace") ? "Grace Hopper" : "Ada Lovelace", password: PASSWORD }),
    });
  }
  for (const email of ["alan@example.com", "barbara@example.com", "edsger@example.com"]) await base44.users.inviteUser(email, "user");
  await usher.waitForMail("edsger@example.com");
  const revoked = (await base44.users.inviteUser("ken@example.com", "user")).invitation.id;
  await fetch(`${usher.serverUrl}/api/apps/${app.app_id}/invitations/${revoked}/revoke`, {
    method: "POST",
    headers: { authorization: `Bearer ${app.api_key}` },
  });

  await mkdir(OUT, { recursive: true });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
  const page = await browser.newPage();
  const console = `${usher.serverUrl}/console/apps/${app.app_id}`;
  const shots = {
    "sign-in": async () => {
      await page.context().clearCookies();
      await page.goto(`${usher.serverUrl}/console?app_id=${app.app_id}`);
    },
    invitations: async () => page.goto(`${console}/invitations`),
    invitation: async () => page.click("text=alan@example.com"),
    import: async () => {
      await page.goto(`${console}/import`);
      await page.fill("#csv", "email,role\nlinus@example.com,user\nmargaret@example.com,admin\nnot-an-address,user");
      await page.click("button:text-is('Preview')");
    },
    members: async () => page.goto(`${console}/members`),
    settings: async () => page.goto(`${console}/settings`),
    keys: async () => page.goto(`${console}/keys`),
    audit: async () => page.goto(`${console}/audit`),
  };
  for (const width of [1280, 375]) {
    await page.setViewportSize({ width, height: width === 375 ? 740 : 800 });
    await page.goto(`${usher.serverUrl}/console?app_id=${app.app_id}`);
    await page.fill("#email", "grace@acme.test");
    await page.fill("#password", PASSWORD);
    await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    for (const [name, open] of Object.entries(shots)) {
      if (name === "sign-in") continue;
      await open();
      await page.waitForLoadState();
      await page.screenshot({ path: path.join(OUT, `${name}-${width}.png`), fullPage: true });
    }
    await shots["sign-in"]();
    await page.screenshot({ path: path.join(OUT, `sign-in-${width}.png`), fullPage: true });
    await page.goto(await usher.consoleLink(app.app_id));
    await page.screenshot({ path: path.join(OUT, `link-${width}.png`), fullPage: true });
  }
  await browser.close();
  process.stdout.write(`screenshots written to ${OUT}\n`);
} finally {
  await usher.stop();
}
