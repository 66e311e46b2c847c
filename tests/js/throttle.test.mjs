// USHER_RESEND_INTERVAL at its default (60 s): a second email to one address is refused.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { createClient } from "@base44/sdk";

import { startUsher } from "./harness.mjs";

let usher;
before(async () => {
  usher = await startUsher({ resendInterval: 60 });
});
after(async () => {
  await usher?.stop();
});

test("re-inviting within the resend interval answers 429 RESEND_THROTTLED with Retry-After", async () => {
  const app = await usher.createApp();
  const base44 = createClient({ serverUrl: usher.serverUrl, appId: app.app_id, token: app.api_key });
  await base44.users.inviteUser("flood@example.com", "user");

  await assert.rejects(base44.users.inviteUser("flood@example.com", "user"), { status: 429, code: "RESEND_THROTTLED" });

  const raw = await fetch(`${usher.serverUrl}/api/apps/${app.app_id}/users/invite-user`, {
    method: "POST",
    headers: { Authorization: `Bearer ${app.api_key}`, "Content-Type": "application/json" },
    body: JSON.stringify({ user_email: "flood@example.com", role: "user" }),
  });
  assert.equal(raw.status, 429);
  const retryAfter = Number(raw.headers.get("retry-after"));
  assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After ${retryAfter}`);
  assert.equal((await usher.mailTo("flood@example.com")).length <= 1, true, "only the first email");
});
