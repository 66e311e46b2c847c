// The seed's own examples (users-module.txt) and the join flow, run through the official,
// unmodified @base44/sdk against a real `usher serve`.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { createClient } from "@base44/sdk";

import { formOf, joinLink, startUsher } from "./harness.mjs";

const PASSWORD = "correct horse battery";

let usher;
before(async () => {
  usher = await startUsher();
});
after(async () => {
  await usher?.stop();
});

/** A fresh app and an SDK client acting with its API key. */
async function newApp(options) {
  const app = await usher.createApp(options);
  const base44 = createClient({ serverUrl: usher.serverUrl, appId: app.app_id, token: app.api_key });
  return { app, base44 };
}

/** Opens the join link, submits the form as a browser would, and returns the redirect. */
async function join(link, fullName = "Ada Lovelace", password = PASSWORD) {
  const page = await fetch(link);
  assert.equal(page.status, 200);
  const { action, fields } = formOf(await page.text(), link);
  return fetch(action, {
    method: "POST",
    redirect: "manual",
    headers: { Origin: new URL(link).origin },
    body: new URLSearchParams({ ...fields, full_name: fullName, password }),
  });
}

describe("first start", () => {
  test("serve prints the first app's id, API key and a working invite snippet", async () => {
    const banner = usher.stdout();
    const appId = /app id\s+([0-9a-f]{24})/.exec(banner)?.[1];
    const apiKey = /API key\s+(usk_[0-9a-f]{64})/.exec(banner)?.[1];
    assert.ok(appId && apiKey, banner);
    assert.match(banner, new RegExp(`curl -X POST ${usher.serverUrl}/api/apps/${appId}/runtime/users/invite-user`));
    assert.match(banner, /base44\.users\.inviteUser\("someone@example\.com", "user"\)/);

    const base44 = createClient({ serverUrl: usher.serverUrl, appId, token: apiKey });
    const result = await base44.users.inviteUser("someone@example.com", "user");

    assert.equal(result.outcome, "created");
    await usher.waitForMail("someone@example.com");
  });
});

describe("users.inviteUser, as in the seed", () => {
  test("invites a user and an admin", async () => {
    const { app, base44 } = await newApp();

    const user = await base44.users.inviteUser("newuser@example.com", "user");
    const admin = await base44.users.inviteUser("admin@example.com", "admin");

    assert.equal(user.outcome, "created");
    assert.equal(user.invitation.role, "user");
    assert.equal(user.invitation.status, "pending");
    assert.equal(user.invitation.app_id, app.app_id);
    assert.equal(user.email.status, "queued");
    assert.equal(admin.invitation.role, "admin");
    assert.doesNotMatch(JSON.stringify([user, admin]), /inv_[0-9a-f]{64}/, "responses never carry the token");
    const mail = await usher.waitForMail("admin@example.com");
    assert.match(mail.headers["content-type"], /multipart\/alternative/);
    assert.match(mail.text, /an admin/);
    assert.match(mail.html, /Seed App/);
  });

  test("invites multiple users in a loop", async () => {
    const { base44 } = await newApp();
    const usersToInvite = [
      { email: "user1@example.com", role: "user" },
      { email: "user2@example.com", role: "user" },
      { email: "manager@example.com", role: "admin" },
    ];

    for (const user of usersToInvite) {
      const result = await base44.users.inviteUser(user.email, user.role);
      assert.equal(result.invitation.role, user.role);
    }

    for (const user of usersToInvite) {
      await usher.waitForMail(user.email);
    }
  });

  test("rejects a role other than user or admin in the client", async () => {
    const { base44 } = await newApp();

    await assert.rejects(base44.users.inviteUser("x@example.com", "owner"), /Role must be either "user" or "admin"/);
  });

  test("auth.inviteUser is the same call, and the server refuses a bad role itself", async () => {
    const { base44 } = await newApp();

    const viaAuth = await base44.auth.inviteUser("twin@example.com", "user");
    const viaUsers = await base44.users.inviteUser("twin@example.com", "user");

    assert.equal(viaAuth.outcome, "created");
    assert.equal(viaUsers.outcome, "resent");
    for (const role of ["owner", "Admin", "", undefined]) {
      await assert.rejects(base44.auth.inviteUser("x@example.com", role), (err) => {
        assert.equal(err.name, "Base44Error");
        assert.equal(err.status, 400);
        assert.equal(err.code, "INVALID_ROLE");
        assert.match(err.message, /"user" or "admin"/);
        return true;
      });
    }
  });

  test("refuses an invalid email with 400 INVALID_EMAIL", async () => {
    const { base44 } = await newApp();

    for (const email of ["not-an-email", "a b@example.com", "a@example.com\r\nBcc: x@example.com"]) {
      await assert.rejects(base44.users.inviteUser(email, "user"), (err) => {
        assert.equal(err.status, 400);
        assert.equal(err.code, "INVALID_EMAIL");
        return true;
      });
    }
  });

  test("inviting again re-sends with a new link and the old one says it was replaced", async () => {
    const { base44 } = await newApp();
    await base44.users.inviteUser("again@example.com", "user");
    const oldLink = joinLink(await usher.waitForMail("again@example.com"));

    const again = await base44.users.inviteUser("again@example.com", "admin");

    assert.equal(again.outcome, "resent");
    assert.equal(again.invitation.role, "admin");
    assert.equal(again.invitation.times_sent, 2);
    const newLink = joinLink(await usher.waitForMail("again@example.com", 2));
    assert.notEqual(newLink, oldLink);
    const oldPage = await fetch(oldLink);
    assert.equal(oldPage.status, 410);
    assert.match(await oldPage.text(), /replaced/);
    assert.equal((await fetch(newLink)).status, 200);
  });

  test("refuses anonymous callers with 401 and other apps' keys with 403", async () => {
    const { app } = await newApp();
    const other = await usher.createApp({ name: "Other" });
    const anonymous = createClient({ serverUrl: usher.serverUrl, appId: app.app_id });
    const wrongKey = createClient({ serverUrl: usher.serverUrl, appId: app.app_id, token: other.api_key });

    await assert.rejects(anonymous.users.inviteUser("x@example.com", "user"), { status: 401, code: "UNAUTHENTICATED" });
    await assert.rejects(wrongKey.users.inviteUser("x@example.com", "user"), { status: 403, code: "WRONG_APP" });
  });
});

describe("joining", () => {
  test("the emailed link shows the invitation, joins, and auth.me() accepts the token", async () => {
    const { app, base44 } = await newApp({ name: "Acme Notes", appUrl: "https://notes.example.test/welcome" });
    await base44.users.inviteUser("ada@example.com", "admin");
    const mail = await usher.waitForMail("ada@example.com");
    const link = joinLink(mail);

    const first = await fetch(link);
    const second = await fetch(link);
    assert.equal(first.status, 200);
    assert.equal(second.status, 200, "GET never consumes the token");
    const page = await second.text();
    for (const expected of ["Acme Notes", "ada@example.com", "an admin"]) assert.ok(page.includes(expected), expected);

    const response = await join(link);

    assert.equal(response.status, 303);
    const location = new URL(response.headers.get("location"));
    assert.equal(`${location.origin}${location.pathname}`, "https://notes.example.test/welcome");
    const accessToken = location.searchParams.get("access_token");
    assert.ok(accessToken);
    const member = createClient({ serverUrl: usher.serverUrl, appId: app.app_id, token: accessToken });
    const me = await member.auth.me();
    assert.equal(me.email, "ada@example.com");
    assert.equal(me.role, "admin");
    assert.equal(me.full_name, "Ada Lovelace");
    assert.equal(me.is_verified, true);
    assert.equal(me.app_id, app.app_id);
    assert.equal(await member.auth.isAuthenticated(), true);

    const reused = await fetch(link);
    assert.equal(reused.status, 410);
    assert.match(await reused.text(), /already/);
    const elsewhere = createClient({ serverUrl: usher.serverUrl, appId: (await usher.createApp()).app_id, token: accessToken });
    await assert.rejects(elsewhere.auth.me(), { status: 403 });
  });

  test("inviting a member again sends a sign-in email and keeps their role", async () => {
    const { app, base44 } = await newApp();
    await base44.users.inviteUser("member@example.com", "user");
    const joined = await join(joinLink(await usher.waitForMail("member@example.com")));
    const token = new URL(joined.headers.get("location")).searchParams.get("access_token");

    const result = await base44.users.inviteUser("member@example.com", "admin");

    assert.equal(result.outcome, "already_member");
    assert.equal(result.user.role, "user");
    const reminder = await usher.waitForMail("member@example.com", 2);
    assert.doesNotMatch(reminder.text, /join\?token=/);
    const me = await createClient({ serverUrl: usher.serverUrl, appId: app.app_id, token }).auth.me();
    assert.equal(me.role, "user");
  });
});

describe("logs", () => {
  test("never contain API keys, access tokens or passwords", async () => {
    const { app, base44 } = await newApp();
    await base44.users.inviteUser("logged@example.com", "user");
    const joined = await join(joinLink(await usher.waitForMail("logged@example.com")), "Logged", "a very secret password");
    const token = new URL(joined.headers.get("location")).searchParams.get("access_token");
    await createClient({ serverUrl: usher.serverUrl, appId: app.app_id, token }).auth.me();

    const logs = usher.stderr();

    assert.ok(!logs.includes(app.api_key), "API key in logs");
    assert.ok(!logs.includes(token), "access token in logs");
    assert.ok(!logs.includes("a very secret password"), "password in logs");
  });
});
