// A sign-up code past USHER_SIGNUP_CODE_TTL (1 s here) is refused, and a resent one works.

import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, test } from "node:test";

import { createClient } from "@base44/sdk";

import { startUsher } from "./harness.mjs";

let usher;
before(async () => {
  usher = await startUsher({ extraEnv: { USHER_SIGNUP_CODE_TTL: "1" } });
});
after(async () => {
  await usher?.stop();
});

test("verifyOtp refuses an expired code with 410 OTP_EXPIRED", async () => {
  const app = await usher.createApp({ openSignup: true });
  const base44 = createClient({ serverUrl: usher.serverUrl, appId: app.app_id });
  await base44.auth.register({ email: "late@example.com", password: "correct horse battery" });
  const code = /\b(\d{6})\b/.exec((await usher.waitForMail("late@example.com")).text)[1];

  await sleep(1500);

  await assert.rejects(base44.auth.verifyOtp({ email: "late@example.com", otpCode: code }), { status: 410, code: "OTP_EXPIRED" });
  await base44.auth.resendOtp("late@example.com");
  const fresh = /\b(\d{6})\b/.exec((await usher.waitForMail("late@example.com", 2)).text)[1];
  const verified = await base44.auth.verifyOtp({ email: "late@example.com", otpCode: fresh });
  assert.equal(verified.user.email, "late@example.com");
});
