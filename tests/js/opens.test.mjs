// Link opens in a real browser (Debian's Chromium driven by playwright-core): opening the
// emailed join link runs the page's script, whose one same-origin request records the person's
// view under the page's strict Content Security Policy (no inline script; a violation fails the
// test), while a plain HTTP fetch with a mail scanner's user agent counts as a scanner's open.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, test } from "node:test";

import { createClient } from "@base44/sdk";
import { chromium } from "playwright-core";

import { joinLink, startUsher } from "./harness.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const missing = existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (scripts/test installs Debian's chromium)`;
if (missing && process.env.CI === "true") throw new Error(`${missing}; CI must run the browser tests`);
const skip = missing;

// Fetches within this long of delivery count as a scanner's (usher_core::rules::opens).
const RIGHT_AFTER_DELIVERY_MS = 5000;

let usher;
let browser;
let app;

before(async () => {
  if (skip) return;
  usher = await startUsher();
  const created = await usher.createApp({ name: "Acme Notes", appUrl: "http://localhost:9/app" });
  app = { ...created, base44: createClient({ serverUrl: usher.serverUrl, appId: created.app_id, token: created.api_key }) };
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});
after(async () => {
  await browser?.close();
  await usher?.stop();
});

/** The invitation of `email`, as the management API shows it. */
async function invitationOf(email) {
  const res = await fetch(`${usher.serverUrl}/api/apps/${app.app_id}/invitations?email=${encodeURIComponent(email)}`, {
    headers: { authorization: `Bearer ${app.api_key}` },
  });
  assert.equal(res.status, 200, await res.clone().text());
  const { items } = await res.json();
  assert.equal(items.length, 1);
  return items[0];
}

test("opening the join link in the browser records the person through the page's script, a scanner's fetch does not", { skip }, async () => {
  await app.base44.users.inviteUser("opener@example.com", "user");
  const link = joinLink(await usher.waitForMail("opener@example.com"));
  await sleep(RIGHT_AFTER_DELIVERY_MS + 1000); // a person opens mail later than a scanner
  assert.equal((await invitationOf("opener@example.com")).delivery.status, "sent");

  const page = await browser.newPage();
  const problems = [];
  page.on("console", (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(error.message));
  const reported = page.waitForResponse((response) => response.url().endsWith("/join/opened"));
  await page.goto(link);
  assert.equal((await reported).status(), 204);
  assert.equal(await page.inputValue("#email"), "opener@example.com");
  await page.close();
  assert.deepEqual(problems, [], "the browser reported problems on the join page");

  const opened = await invitationOf("opener@example.com");
  assert.ok(opened.opened_by_person_at, "the person's view is recorded");
  assert.equal(opened.scanner_opens, 0);
  assert.equal(opened.status, "pending");

  const scanner = await fetch(link, { headers: { "user-agent": "Mozilla/5.0 (compatible; Microsoft SafeLinks)" } });
  assert.equal(scanner.status, 200);
  const scanned = await invitationOf("opener@example.com");
  assert.equal(scanned.scanner_opens, 1);
  assert.equal(scanned.opened_by_person_at, opened.opened_by_person_at, "a scanner is no person");
  assert.equal(scanned.status, "pending", "nothing was used up");

  const listed = await fetch(`${usher.serverUrl}/api/apps/${app.app_id}/invitations?opened=true&status=pending`, {
    headers: { authorization: `Bearer ${app.api_key}` },
  });
  assert.deepEqual((await listed.json()).items.map((i) => i.email), ["opener@example.com"]);
});
