// Signing in, the member's own profile, the User entity and public settings, through the
// official @base44/sdk against a real `usher serve`.

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

/** A fresh app, an admin client with its API key, and a way to make members. */
async function newApp() {
  const app = await usher.createApp();
  const admin = createClient({ serverUrl: usher.serverUrl, appId: app.app_id, token: app.api_key });
  const client = (token) => createClient({ serverUrl: usher.serverUrl, appId: app.app_id, ...(token && { token }) });
  async function member(email, role = "user") {
    // Addresses repeat across this file's apps: wait for this invitation's own email.
    const earlier = (await usher.mailTo(email)).length;
    await admin.users.inviteUser(email, role);
    const link = joinLink(await usher.waitForMail(email, earlier + 1));
    const page = await fetch(link);
    const { action, fields } = formOf(await page.text(), link);
    const joined = await fetch(action, {
      method: "POST",
      redirect: "manual",
      body: new URLSearchParams({ ...fields, full_name: email.split("@")[0], password: PASSWORD }),
    });
    return new URL(joined.headers.get("location")).searchParams.get("access_token");
  }
  return { app, admin, client, member };
}

describe("auth", () => {
  test("loginViaEmailPassword signs in and the SDK then knows the member", async () => {
    const { client, member } = await newApp();
    await member("ada@example.com", "admin");
    const base44 = client();

    const { access_token, user } = await base44.auth.loginViaEmailPassword("ada@example.com", PASSWORD);

    assert.ok(access_token);
    assert.equal(user.email, "ada@example.com");
    const me = await base44.auth.me();
    assert.equal(me.role, "admin");
    assert.equal(await base44.auth.isAuthenticated(), true);
  });

  test("a wrong password and an unknown address fail the same way", async () => {
    const { client, member } = await newApp();
    await member("ada@example.com");
    const failure = async (email, password) => {
      try {
        await client().auth.loginViaEmailPassword(email, password);
      } catch (err) {
        return { status: err.status, code: err.code, message: err.message };
      }
      assert.fail("sign-in should fail");
    };

    const wrong = await failure("ada@example.com", "not the password");
    const unknown = await failure("nobody@example.com", PASSWORD);

    assert.deepEqual(wrong, { status: 401, code: "INVALID_CREDENTIALS", message: "invalid email or password" });
    assert.deepEqual(unknown, wrong);
  });

  test("updateMe changes the name and custom fields, never the role", async () => {
    const { client, member } = await newApp();
    const base44 = client(await member("ada@example.com"));

    const updated = await base44.auth.updateMe({ full_name: "Ada Lovelace", team: "engines" });

    assert.equal(updated.full_name, "Ada Lovelace");
    assert.equal(updated.team, "engines");
    await assert.rejects(base44.auth.updateMe({ role: "admin" }), { status: 403, code: "FIELD_NOT_EDITABLE" });
    assert.equal((await base44.auth.me()).role, "user");
  });

  test("changePassword needs the current password, then the new one signs in", async () => {
    const { client, member } = await newApp();
    const base44 = client(await member("ada@example.com"));
    const me = await base44.auth.me();

    await assert.rejects(
      base44.auth.changePassword({ userId: me.id, currentPassword: "wrong password", newPassword: "a brand new password" }),
      { status: 400, code: "INVALID_CURRENT_PASSWORD" },
    );
    await base44.auth.changePassword({ userId: me.id, currentPassword: PASSWORD, newPassword: "a brand new password" });

    const { user } = await client().auth.loginViaEmailPassword("ada@example.com", "a brand new password");
    assert.equal(user.id, me.id);
  });

  test("resetPasswordRequest answers the same for anyone, and the emailed token resets once", async () => {
    const { client, member } = await newApp();
    await member("ada@example.com");
    const base44 = client();
    const earlier = (await usher.mailTo("ada@example.com")).length;

    const forMember = await base44.auth.resetPasswordRequest("ada@example.com");
    const forStranger = await base44.auth.resetPasswordRequest("nobody@example.com");

    assert.deepEqual(forMember, forStranger);
    const mail = await usher.waitForMail("ada@example.com", earlier + 1);
    const resetToken = /reset-password\?token=(rst_[0-9a-f]{64})/.exec(mail.text)[1];
    await base44.auth.resetPassword({ resetToken, newPassword: "a brand new password" });
    await assert.rejects(base44.auth.resetPassword({ resetToken, newPassword: "another new password" }), { status: 410, code: "RESET_TOKEN_USED" });
    const { user } = await base44.auth.loginViaEmailPassword("ada@example.com", "a brand new password");
    assert.equal(user.email, "ada@example.com");
  });

  test("register, verifyOtp and resendOtp sign a new member up on an open app", async () => {
    const app = await usher.createApp({ openSignup: true });
    const base44 = createClient({ serverUrl: usher.serverUrl, appId: app.app_id });
    const email = `signup-${app.app_id}@example.com`;
    const codeIn = async (count) => /\b(\d{6})\b/.exec((await usher.waitForMail(email, count)).text)[1];

    await base44.auth.register({ email, password: PASSWORD });
    const first = await codeIn(1);
    await base44.auth.resendOtp(email);
    const second = await codeIn(2);
    const wrong = second === "000000" ? "111111" : "000000";
    await assert.rejects(base44.auth.verifyOtp({ email, otpCode: wrong }), { status: 400, code: "INVALID_OTP" });
    const verified = await base44.auth.verifyOtp({ email, otpCode: second });

    assert.equal(verified.user.email, email);
    assert.equal(verified.user.is_verified, true);
    const { user } = await base44.auth.loginViaEmailPassword(email, PASSWORD);
    assert.equal(user.id, verified.user.id);
  });

  test("register is refused on an invitation-only app for an uninvited address", async () => {
    const { client } = await newApp();

    await assert.rejects(client().auth.register({ email: "uninvited@example.com", password: PASSWORD }), {
      status: 403,
      code: "SIGNUP_INVITATION_ONLY",
    });
  });

  test("app.getPublicSettings needs no sign-in", async () => {
    const { app, client } = await newApp();

    const settings = await client().app.getPublicSettings();

    assert.equal(settings.id, app.app_id);
    assert.equal(settings.name, "Seed App");
  });
});

describe("entities.User", () => {
  test("an admin lists, filters, counts, reads, updates and deletes members", async () => {
    const { admin, member } = await newApp();
    await member("a@example.com");
    await member("b@example.com", "admin");
    await member("c@example.com");

    const all = await admin.entities.User.list("-email");
    const users = await admin.entities.User.filter({ role: "user" }, "email", 1, 1, ["email"]);
    const count = await admin.entities.User.count({ role: "user" });
    const page = await admin.entities.User.list({ limit: 2, sort: "email" });

    assert.deepEqual(all.map((u) => u.email), ["c@example.com", "b@example.com", "a@example.com"]);
    assert.deepEqual(users.map((u) => u.email), ["c@example.com"]);
    assert.equal(count, 2);
    assert.equal(page.items.length, 2);
    assert.equal(page.has_more, true);
    const next = await admin.entities.User.list({ limit: 2, sort: "email", cursor: page.next_cursor });
    assert.deepEqual(next.items.map((u) => u.email), ["c@example.com"]);

    const a = all.find((u) => u.email === "a@example.com");
    assert.equal((await admin.entities.User.get(a.id)).email, "a@example.com");
    assert.equal((await admin.entities.User.update(a.id, { role: "admin" })).role, "admin");
    await admin.entities.User.delete(a.id);
    await assert.rejects(admin.entities.User.get(a.id), { status: 404, code: "USER_NOT_FOUND" });
  });

  test("a member sees and changes only themselves", async () => {
    const { admin, client, member } = await newApp();
    const ada = client(await member("ada@example.com"));
    await member("bob@example.com");
    const bob = (await admin.entities.User.filter({ email: "bob@example.com" }))[0];

    const visible = await ada.entities.User.list();

    assert.deepEqual(visible.map((u) => u.email), ["ada@example.com"]);
    await assert.rejects(ada.entities.User.get(bob.id), { status: 404 });
    await assert.rejects(ada.entities.User.update(bob.id, { full_name: "Mallory" }), { status: 404 });
    await assert.rejects(ada.entities.User.delete(bob.id), { status: 404 });
    await assert.rejects(admin.entities.User.create({ email: "new@example.com" }), { status: 403, code: "USER_CREATION_NOT_ALLOWED" });
  });
});
