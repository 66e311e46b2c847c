// The operator console (/console) in a real browser (Debian's Chromium driven by
// playwright-core): an admin signs in, invites, sees the email go out, re-sends and revokes;
// the members page; who is refused; a form posted from another site does nothing. A Content
// Security Policy violation or page error on any console page fails the test.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import http from "node:http";
import { after, afterEach, before, beforeEach, test } from "node:test";

import { createClient } from "@base44/sdk";
import { chromium } from "playwright-core";

import { joinLink, startUsher } from "./harness.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const missing = existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (scripts/test installs Debian's chromium)`;
if (missing && process.env.CI === "true") throw new Error(`${missing}; CI must run the browser tests`);
const skip = missing;
const PASSWORD = "correct horse battery";

let usher;
let browser;
let acme; // { app_id, api_key, base44 }
let other; // another app on the same server

before(async () => {
  if (skip) return;
  // Mail goes through a real SMTP server (tests/smtp): "sent" is what it accepted.
  usher = await startUsher({ smtp: true });
  acme = await appWithClient("Acme Notes");
  other = await appWithClient("Other App");
  await member(acme, "root@acme.test", "admin");
  await member(acme, "plain@acme.test", "user");
  await member(other, "root@other.test", "admin");
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});
after(async () => {
  await browser?.close();
  await usher?.stop();
});

let context;
let page;
let problems;
beforeEach(async () => {
  if (skip) return;
  problems = [];
  context = await browser.newContext();
  page = await context.newPage();
  page.on("console", (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(`${page.url()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`${page.url()}: ${error.message}`));
});
afterEach(async () => {
  if (skip) return;
  await context.close();
  assert.deepEqual(problems, [], "the browser reported problems on a page");
});

async function appWithClient(name) {
  const created = await usher.createApp({ name });
  return { ...created, base44: createClient({ serverUrl: usher.serverUrl, appId: created.app_id, token: created.api_key }) };
}

/** A member of `app` with `role` and `PASSWORD`, made through the join API. */
async function member(app, email, role) {
  await app.base44.users.inviteUser(email, role);
  const token = new URL(joinLink(await usher.waitForMail(email))).searchParams.get("token");
  const res = await fetch(`${usher.serverUrl}/api/apps/${app.app_id}/invitations/accept`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token, full_name: "Grace Hopper", password: PASSWORD }),
  });
  assert.equal(res.status, 200, await res.text());
}

/** Signs in on the console's start page; returns the response of the form post. */
async function signIn(app, email, password = PASSWORD) {
  await page.goto(`${usher.serverUrl}/console?app_id=${app.app_id}`);
  await page.fill("#email", email);
  await page.fill("#password", password);
  const [response] = await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
  return response;
}

/** The invitation rows of the table, as `{email, status, delivery}`. */
async function rows() {
  return page.$$eval("tbody tr", (trs) =>
    trs.map((tr) => ({
      email: tr.cells[0].textContent.trim(),
      status: tr.cells[2].textContent.trim(),
      delivery: tr.cells[3].querySelector(".tag").textContent.trim(),
    })),
  );
}

async function invitationOf(app, email) {
  const res = await fetch(`${usher.serverUrl}/api/apps/${app.app_id}/invitations?email=${encodeURIComponent(email)}`, {
    headers: { authorization: `Bearer ${app.api_key}` },
  });
  return (await res.json()).items[0];
}

// The SMTP server has a mail a moment before the delivery worker commits it as sent.
async function recordedAsSent(app, email) {
  await recordedAs(app, email, "sent");
}

async function recordedAs(app, email, state) {
  for (let tries = 0; tries < 100; tries++) {
    if ((await invitationOf(app, email))?.delivery?.status === state) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`${email}'s email was never recorded as ${state}`);
}

test("an admin signs in, invites someone and sees the email go out", { skip }, async () => {
  await signIn(acme, "root@acme.test");
  assert.equal(new URL(page.url()).pathname, `/console/apps/${acme.app_id}/invitations`);
  const cookie = (await context.cookies()).find((c) => c.name === `usher_console_${acme.app_id}`);
  assert.ok(cookie, "a session cookie");
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, "Strict");
  assert.equal(cookie.path, "/console");

  await page.fill("#invite-email", "ada@example.com");
  await page.selectOption("#invite-role", "user");
  await Promise.all([page.waitForNavigation(), page.click("button:text-is('Invite')")]);

  assert.match(await page.textContent("[role=status]"), /Invited ada@example\.com/);
  await usher.waitForMail("ada@example.com");
  await recordedAsSent(acme, "ada@example.com");
  await page.goto(`${usher.serverUrl}/console/apps/${acme.app_id}/invitations?email=ada%40example.com`);
  assert.deepEqual(await rows(), [{ email: "ada@example.com", status: "pending", delivery: "sent" }]);
  assert.equal((await invitationOf(acme, "ada@example.com")).role, "user");
});

test("re-sending and revoking ask first, then do what the API does", { skip }, async () => {
  await acme.base44.users.inviteUser("bob@example.com", "user");
  await usher.waitForMail("bob@example.com");
  await signIn(acme, "root@acme.test");
  await page.click("text=bob@example.com");

  await page.click("text=Send again…");
  assert.match(await page.textContent("h1"), /Resend the invitation of bob@example\.com\?/);
  await Promise.all([page.waitForNavigation(), page.click("button:has-text('Resend')")]);
  assert.equal(await page.textContent("[role=status]"), "Sent again with a new link.");
  await usher.waitForMail("bob@example.com", 2);

  await page.click("text=Revoke…");
  await Promise.all([page.waitForNavigation(), page.click("button:has-text('Revoke')")]);
  assert.equal(await page.textContent("[role=status]"), "Revoked.");
  const invitation = await invitationOf(acme, "bob@example.com");
  assert.equal(invitation.status, "revoked");
  assert.equal(invitation.times_sent, 2);
});

test("members are listed, promoted, disabled, enabled and removed", { skip }, async () => {
  await member(acme, "carol@acme.test", "user");
  await signIn(acme, "root@acme.test");
  await page.click("text=Members");
  const emails = await page.$$eval("tbody tr td:first-child", (tds) => tds.map((td) => td.textContent.trim()));
  assert.deepEqual(emails.sort(), ["carol@acme.test", "plain@acme.test", "root@acme.test"]);
  const carol = async () => (await acme.base44.entities.User.filter({ email: "carol@acme.test" }))[0];

  await Promise.all([page.waitForNavigation(), page.click("[aria-label='Make carol@acme.test an admin']")]);
  assert.equal(await page.textContent("[role=status]"), "carol@acme.test is now admin and active.");
  assert.equal((await carol()).role, "admin");

  await Promise.all([page.waitForNavigation(), page.click("[aria-label='Disable carol@acme.test']")]);
  assert.equal((await carol()).disabled, true);
  await Promise.all([page.waitForNavigation(), page.click("[aria-label='Enable carol@acme.test']")]);
  assert.equal((await carol()).disabled, false);

  await page.click("[aria-label='Remove carol@acme.test']");
  await Promise.all([page.waitForNavigation(), page.click("button:text-is('Remove')")]);
  assert.equal(await page.textContent("[role=status]"), "Removed.");
  assert.equal(await carol(), undefined);
});

test("a one-time link from `usher console link` signs the operator in once, before any admin exists", { skip }, async () => {
  const fresh = await appWithClient("Fresh App");
  const link = await usher.consoleLink(fresh.app_id);
  assert.match(link, new RegExp(`^${usher.serverUrl}/console/link\\?token=ucl_`));

  await page.goto(link);
  await Promise.all([page.waitForNavigation(), page.click("button:text-is('Continue to the console')")]);
  assert.equal(new URL(page.url()).pathname, `/console/apps/${fresh.app_id}/invitations`);
  await page.fill("#invite-email", "first-admin@example.com");
  await page.selectOption("#invite-role", "admin");
  await Promise.all([page.waitForNavigation(), page.click("button:text-is('Invite')")]);
  assert.match(await page.textContent("[role=status]"), /Invited first-admin@example\.com/);
  assert.equal((await invitationOf(fresh, "first-admin@example.com")).role, "admin");
  await page.click("text=API keys");
  assert.match(await page.textContent("main"), /console sign-in link/);
  const session = (await context.cookies()).find((c) => c.name === `usher_console_${fresh.app_id}`);
  assert.doesNotMatch(decodeURIComponent(session.value), /usk_/, "the cookie names the link's key, never a key's secret");

  // The same link in another browser: used up.
  const again = await browser.newContext();
  const other = await again.newPage();
  await other.goto(link);
  const [refused] = await Promise.all([other.waitForNavigation(), other.click("button:text-is('Continue to the console')")]);
  assert.equal(refused.status(), 410);
  assert.match(await other.textContent("[role=alert]"), /used already/);
  assert.equal((await again.cookies()).length, 0, "no session");
  await again.close();

  // Signing out revokes the link's key: a copy of the cookie taken before is refused too.
  assert.deepEqual(await keyNames(fresh), ["console sign-in link", "default"].sort());
  await Promise.all([page.waitForNavigation(), page.click("text=Sign out")]);
  const copied = await fetch(`${usher.serverUrl}/console/apps/${fresh.app_id}/invitations`, {
    headers: { cookie: `${session.name}=${session.value}` },
    redirect: "manual",
  });
  assert.equal(copied.status, 303, "the copied cookie is refused");
  assert.equal(copied.headers.get("location"), `/console?app_id=${fresh.app_id}`);
  assert.deepEqual(await keyNames(fresh), ["default"], "the link's key is revoked");
});

/** The names of `app`'s live API keys, sorted. */
async function keyNames(app) {
  const res = await fetch(`${usher.serverUrl}/api/apps/${app.app_id}/keys`, { headers: { authorization: `Bearer ${app.api_key}` } });
  const body = await res.text();
  assert.equal(res.status, 200, body);
  return JSON.parse(body).items.map((key) => key.name).sort();
}

test("a console link no longer works once it expired", { skip }, async () => {
  const fresh = await appWithClient("Expiring App");
  const link = await usher.consoleLink(fresh.app_id, { validForSecs: 1 });
  await new Promise((resolve) => setTimeout(resolve, 1500));

  await page.goto(link);
  const [refused] = await Promise.all([page.waitForNavigation(), page.click("button:text-is('Continue to the console')")]);
  assert.equal(refused.status(), 410);
  assert.match(await page.textContent("[role=alert]"), /expired/);
  await page.goto(`${usher.serverUrl}/console/apps/${fresh.app_id}/invitations`);
  assert.equal(new URL(page.url()).pathname, "/console", "sent to sign in");
});

test("the server ends a console session after the idle timeout, whatever the browser kept", { skip }, async () => {
  const short = await startUsher({ extraEnv: { USHER_CONSOLE_IDLE_TIMEOUT: "2" } });
  try {
    const created = await short.createApp({ name: "Short Sessions" });
    await page.goto(await short.consoleLink(created.app_id));
    await Promise.all([page.waitForNavigation(), page.click("button:text-is('Continue to the console')")]);
    const invitations = `${short.serverUrl}/console/apps/${created.app_id}/invitations`;
    const cookie = (await context.cookies()).find((c) => c.name === `usher_console_${created.app_id}`);
    assert.ok(cookie.expires - Date.now() / 1000 <= 3, "the browser is told the idle timeout");

    // Page views within the timeout keep the session going past it.
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await page.goto(invitations);
      assert.equal(new URL(page.url()).pathname, `/console/apps/${created.app_id}/invitations`, `view ${i}`);
    }

    // The first cookie, kept past the timeout (as a copied cookie would be), is refused.
    const open = () => fetch(invitations, { headers: { cookie: `${cookie.name}=${cookie.value}` }, redirect: "manual" });
    const stale = await open();
    assert.equal(stale.status, 303);
    assert.equal(stale.headers.get("location"), `/console?app_id=${created.app_id}`);
    // The session from the link ended idle, and with it the link's key.
    const keys = await fetch(`${short.serverUrl}/api/apps/${created.app_id}/keys`, { headers: { authorization: `Bearer ${created.api_key}` } });
    assert.deepEqual((await keys.json()).items.map((key) => key.name), ["default"]);
  } finally {
    await short.stop();
  }
});

test("the console never demotes, disables or removes the app's last active admin", { skip }, async () => {
  const solo = await appWithClient("Solo");
  await member(solo, "only@solo.test", "admin");
  await signIn(solo, "only@solo.test");
  await page.click("text=Members");
  const only = async () => (await solo.base44.entities.User.filter({ email: "only@solo.test" }))[0];
  const refusal = "this is the app's last active admin; make another member an admin first.";

  await Promise.all([page.waitForNavigation(), page.click("[aria-label='Make only@solo.test a user']")]);
  assert.equal(await page.textContent("[role=status]"), `Not changed: ${refusal}`);
  await Promise.all([page.waitForNavigation(), page.click("[aria-label='Disable only@solo.test']")]);
  assert.equal(await page.textContent("[role=status]"), `Not changed: ${refusal}`);
  await page.click("[aria-label='Remove only@solo.test']");
  await Promise.all([page.waitForNavigation(), page.click("button:text-is('Remove')")]);
  assert.equal(await page.textContent("[role=status]"), `Not removed: ${refusal}`);
  const kept = await only();
  assert.equal(kept.role, "admin");
  assert.equal(kept.disabled, false);
});

test("a CSV file of 50 rows is previewed, then invited with a result per row", { skip }, async () => {
  const lines = ["email,role", ...Array.from({ length: 48 }, (_, i) => `csv${i}@example.com,user`), "not-an-address,user", "boss@example.com,owner"];
  await signIn(acme, "root@acme.test");
  await page.click("text=Invite from a CSV file");
  await page.setInputFiles("#csv-file", { name: "people.csv", mimeType: "text/csv", buffer: Buffer.from(lines.join("\n")) });
  await page.waitForFunction(() => document.getElementById("csv").value.includes("csv47@example.com"));
  await Promise.all([page.waitForNavigation(), page.click("button:text-is('Preview')")]);

  assert.equal(await page.textContent("h1"), "48 people to invite");
  assert.equal(await page.$$eval("tbody tr", (trs) => trs.length), 50);
  assert.match(await page.textContent("[role=alert]"), /2 rows are not valid/);
  await Promise.all([page.waitForNavigation(), page.click("button:text-is('Invite 48')")]);

  assert.equal(await page.textContent("[role=status]"), "48 invited, 0 invited again, 0 already members, 2 refused.");
  assert.equal(await page.$$eval("tbody tr", (trs) => trs.length), 50);
  assert.equal((await invitationOf(acme, "csv47@example.com")).status, "pending");
  assert.equal(await invitationOf(acme, "boss@example.com"), undefined);
});

test("a key created in the console works through the SDK until it is revoked there", { skip }, async () => {
  await signIn(acme, "root@acme.test");
  await page.click("text=API keys");
  await page.fill("#key-name", "billing server");
  await Promise.all([page.waitForNavigation(), page.click("button:text-is('Create key')")]);
  const key = await page.inputValue("#new-key");
  assert.match(key, /^usk_/);
  const billing = createClient({ serverUrl: usher.serverUrl, appId: acme.app_id, token: key });
  await billing.users.inviteUser("from-billing@example.com", "user");

  await page.goto(`${usher.serverUrl}/console/apps/${acme.app_id}/keys`);
  assert.equal(await page.$("#new-key"), null, "the key is shown only once");
  await page.click("[aria-label='Revoke billing server']");
  await Promise.all([page.waitForNavigation(), page.click("button:text-is('Revoke')")]);
  assert.match(await page.textContent("[role=status]"), /Revoked/);

  await assert.rejects(billing.users.inviteUser("again@example.com", "user"), { status: 401 });
});

test("a setting changed in the console is what the API returns", { skip }, async () => {
  await signIn(acme, "root@acme.test");
  await page.click("text=Settings");
  await page.fill("#invitation_ttl_hours", "48");
  await page.selectOption("#invite_policy", "members");
  await page.fill("#sender_name", "The Acme Team");
  await page.fill("#reminder_before_expiry_hours", "24");
  await page.selectOption("#locale", "fr");
  await page.fill("#max_invites_per_day", "500");
  await page.fill("#allowed_email_domains", "acme.test\n*.acme.test");
  await page.fill("#blocked_email_domains", "rival.test");
  await Promise.all([page.waitForNavigation(), page.click("button:text-is('Save')")]);
  assert.equal(await page.textContent("[role=status]"), "Saved.");
  assert.match(await page.textContent("#max_invites_per_day-used"), /sent in the last 24 hours of 500 allowed/);

  const res = await fetch(`${usher.serverUrl}/api/apps/${acme.app_id}/settings`, {
    headers: { authorization: `Bearer ${acme.api_key}` },
  });
  const settings = await res.json();
  assert.equal(settings.invitation_ttl_seconds, 48 * 3600);
  assert.equal(settings.invite_policy, "members");
  assert.equal(settings.sender_name, "The Acme Team");
  assert.equal(settings.reminder_before_expiry_hours, 24);
  assert.equal(settings.locale, "fr");
  assert.equal(settings.max_invites_per_day, 500);
  assert.deepEqual(settings.allowed_email_domains, ["acme.test", "*.acme.test"]);
  assert.deepEqual(settings.blocked_email_domains, ["rival.test"]);

  // Refused with the message the API gives for the same value.
  await page.fill("#max_invites_per_day", "0");
  await page.$eval("form.card", (form) => form.setAttribute("novalidate", ""));
  const zero = await Promise.all([page.waitForNavigation(), page.click("button:text-is('Save')")]);
  assert.equal(zero[0].status(), 400);
  const api = await fetch(`${usher.serverUrl}/api/apps/${acme.app_id}/settings`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${acme.api_key}`, "content-type": "application/json" },
    body: JSON.stringify({ max_invites_per_day: 0 }),
  });
  assert.equal(await page.textContent("[role=alert]"), (await api.json()).message);
  assert.equal(await page.inputValue("#max_invites_per_day"), "0", "the form keeps what was typed");
  await page.fill("#max_invites_per_day", "500");

  await page.fill("#app_url", "not an address");
  await page.$eval("form.card", (form) => form.setAttribute("novalidate", ""));
  const refused = await Promise.all([page.waitForNavigation(), page.click("button:text-is('Save')")]);
  assert.equal(refused[0].status(), 400);
  assert.match(await page.textContent("[role=alert]"), /app_url/);
  assert.equal(await page.inputValue("#app_url"), "not an address", "the form keeps what was typed");

  // The tests after this one invite @example.com addresses and read English mail.
  const restored = await fetch(`${usher.serverUrl}/api/apps/${acme.app_id}/settings`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${acme.api_key}`, "content-type": "application/json" },
    body: JSON.stringify({ locale: "en", max_invites_per_day: null, allowed_email_domains: [], blocked_email_domains: [] }),
  });
  assert.equal(restored.status, 200);
});

test("the audit log shows who invited whom", { skip }, async () => {
  await acme.base44.users.inviteUser("audited@example.com", "user");
  await signIn(acme, "root@acme.test");
  await page.click("text=Audit log");

  const row = await page.$eval("tbody tr:has-text('audited@example.com')", (tr) => [...tr.cells].map((td) => td.textContent.trim()));
  assert.match(row[1], /invit/);
  assert.match(row[2], /^API key /);
});

test("the audit log is filtered by action and by who did it", { skip }, async () => {
  await acme.base44.users.inviteUser("filtered@example.com", "user");
  await signIn(acme, "root@acme.test");
  await acme.base44.entities.User.list(); // nothing audited: reads leave no trace
  await page.click("text=Audit log");
  const cells = (n) => page.$$eval(`tbody tr td:nth-child(${n})`, (tds) => tds.map((td) => td.textContent.trim()));

  await page.selectOption("#filter-action", "invitation.created");
  await Promise.all([page.waitForNavigation(), page.click("button:text-is('Show')")]);
  const actions = await cells(2);
  assert.ok(actions.length >= 2, `${actions}`);
  assert.deepEqual([...new Set(actions)], ["invitation.created"]);

  // Signing in through the console as root and inviting leaves a member as the actor.
  await page.click("text=Invitations");
  await page.fill("#invite-email", "by-root@example.com");
  await Promise.all([page.waitForNavigation(), page.click("button:text-is('Invite')")]);
  await page.click("text=Audit log");
  await Promise.all([page.waitForNavigation(), page.click("tbody tr:has-text('by-root@example.com') td:nth-child(3) a")]);
  const actors = await cells(3);
  assert.deepEqual([...new Set(actors)], [actors[0]]);
  assert.match(actors[0], /^member /);
  assert.ok((await cells(4)).includes("by-root@example.com"));
  assert.ok(!(await cells(4)).includes("filtered@example.com"), "the API key's invitation is not the member's");
  assert.match(new URL(page.url()).search, /actor=user%3A/);
});

test("invitations are filtered by the state of their email, and one shows its history", { skip }, async () => {
  await acme.base44.users.inviteUser("delivered@example.com", "user");
  await acme.base44.users.inviteUser("bounced@example.com", "user");
  await usher.waitForMail("delivered@example.com");
  await recordedAsSent(acme, "delivered@example.com");
  // The SMTP server refuses every address starting with "bounce" (550): failed for good.
  await recordedAs(acme, "bounced@example.com", "failed");
  await signIn(acme, "root@acme.test");

  await page.selectOption("#filter-delivery", "failed");
  await Promise.all([page.waitForNavigation(), page.click("button:text-is('Show')")]);
  const failed = await rows();
  assert.ok(failed.some((r) => r.email === "bounced@example.com"), JSON.stringify(failed));
  assert.ok(failed.every((r) => r.delivery === "failed"), JSON.stringify(failed));
  assert.match(await page.textContent("tbody"), /5\.1\.1 <bounced@example\.com>: mailbox unavailable/, "the server's reply");
  await page.selectOption("#filter-delivery", "sent");
  await Promise.all([page.waitForNavigation(), page.click("button:text-is('Show')")]);
  const sent = await rows();
  assert.ok(sent.length > 0 && sent.every((r) => r.delivery === "sent"), JSON.stringify(sent));
  assert.equal(await page.inputValue("#filter-delivery"), "sent", "the filter stays chosen");
  await page.fill("#filter-email", "delivered@example.com");
  await Promise.all([page.waitForNavigation(), page.click("button:text-is('Show')")]);
  assert.deepEqual(await rows(), [{ email: "delivered@example.com", status: "pending", delivery: "sent" }]);
  await page.fill("#filter-email", "bounced@example.com");
  await Promise.all([page.waitForNavigation(), page.click("button:text-is('Show')")]);
  assert.deepEqual(await rows(), [], "bounced@example.com's email is not sent");
  await page.fill("#filter-email", "delivered@example.com");
  await Promise.all([page.waitForNavigation(), page.click("button:text-is('Show')")]);

  await page.click("text=delivered@example.com");
  const attempts = async (count) => {
    for (let tries = 0; ; tries++) {
      const found = await page.$$eval("h2:text-is('Delivery attempts') + .card tbody tr", (trs) =>
        trs.map((tr) => [tr.cells[1].textContent.trim(), tr.cells[2].textContent.trim()]),
      );
      if (found.length >= count || tries > 50) return found;
      await new Promise((resolve) => setTimeout(resolve, 100));
      await page.reload();
    }
  };
  // The SMTP server's reply to each email, as it gave it.
  const answered = ([outcome, reply]) => [outcome, /^250 2\.0\.0 Ok: queued as [0-9a-f]{32}$/.test(reply) ? "250 queued" : reply];
  assert.deepEqual((await attempts(1)).map(answered), [["sent", "250 queued"]]);
  await acme.base44.users.inviteUser("delivered@example.com", "user"); // sent again: another event
  await usher.waitForMail("delivered@example.com", 2);
  assert.deepEqual((await attempts(2)).map(answered), [["sent", "250 queued"], ["sent", "250 queued"]], "one per email");
  const history = await page.$$eval("h2:text-is('History') + .card tbody tr", (trs) => trs.map((tr) => tr.cells[1].textContent.trim()));
  assert.deepEqual(history, ["invitation.resent", "invitation.created"]);
});

test("a plain member, a wrong password and another app's admin are refused", { skip }, async () => {
  const plain = await signIn(acme, "plain@acme.test");
  assert.equal(plain.status(), 403);
  assert.match(await page.textContent("[role=alert]"), /Only admins/);

  const wrong = await signIn(acme, "root@acme.test", "not the password");
  assert.equal(wrong.status(), 401);

  const stranger = await signIn(acme, "root@other.test");
  assert.equal(stranger.status(), 401);

  await signIn(other, "root@other.test");
  await page.goto(`${usher.serverUrl}/console/apps/${acme.app_id}/invitations`);
  assert.equal(new URL(page.url()).pathname, "/console", "sent to sign in, not shown Acme's invitations");
  assert.equal(await page.$("tbody"), null);
});

test("signing out ends the session on the server, for a copy of its cookie too", { skip }, async () => {
  await signIn(acme, "root@acme.test");
  const invitations = `${usher.serverUrl}/console/apps/${acme.app_id}/invitations`;
  const cookie = (await context.cookies()).find((c) => c.name === `usher_console_${acme.app_id}`);
  const withCopy = () => fetch(invitations, { headers: { cookie: `${cookie.name}=${cookie.value}` }, redirect: "manual" });
  assert.equal((await withCopy()).status, 200, "the copy works while signed in");

  await Promise.all([page.waitForNavigation(), page.click("text=Sign out")]);

  await page.goto(invitations);
  assert.equal(new URL(page.url()).pathname, "/console");
  const copied = await withCopy();
  assert.equal(copied.status, 303, "the copied cookie is refused");
  assert.equal(copied.headers.get("location"), `/console?app_id=${acme.app_id}`);
});

test("changing the password ends every console session opened before", { skip }, async () => {
  await member(acme, "temp@acme.test", "admin");
  await signIn(acme, "temp@acme.test");
  const base44 = createClient({ serverUrl: usher.serverUrl, appId: acme.app_id });
  const { access_token } = await base44.auth.loginViaEmailPassword("temp@acme.test", PASSWORD);
  base44.auth.setToken(access_token, false);
  const me = await base44.auth.me();
  await base44.auth.changePassword({ userId: me.id, currentPassword: PASSWORD, newPassword: "a brand new password" });

  await page.goto(`${usher.serverUrl}/console/apps/${acme.app_id}/invitations`);
  assert.equal(new URL(page.url()).pathname, "/console");
});

test("a form posted from another site invites nobody", { skip }, async () => {
  await signIn(acme, "root@acme.test");
  const evil = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(`<form method="post" action="${usher.serverUrl}/console/apps/${acme.app_id}/invitations">
      <input name="email" value="mallory@evil.test"><input name="role" value="admin"></form>
      <script>document.forms[0].submit()</script>`);
  });
  await new Promise((resolve) => evil.listen(0, "localhost", resolve));
  try {
    await page.goto(`http://localhost:${evil.address().port}/`);
    await page.waitForURL((url) => url.origin === usher.serverUrl);
  } finally {
    evil.close();
  }

  assert.equal(await invitationOf(acme, "mallory@evil.test"), undefined);
});

test("the invitations page fits a 375 px wide screen", { skip }, async () => {
  await page.setViewportSize({ width: 375, height: 740 });
  await signIn(acme, "root@acme.test");

  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 375, `the page is ${width} px wide`);
});
