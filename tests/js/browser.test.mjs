// Every hosted page flow in a real browser (Debian's Chromium driven by playwright-core), with
// the app where every real app is: on another origin than Usher. Usher listens on 127.0.0.1;
// the app is a small HTTP server of this test's own on localhost, whose page runs the official
// SDK in the browser: it picks up the `access_token` it was opened with and calls `auth.me()`
// across origins, and its buttons call `auth.redirectToLogin()` and `auth.logout()`. A Content
// Security Policy violation reported on any page fails the test.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
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
let appServer;
let app; // { app_id, api_key, base44, origin }

before(async () => {
  if (skip) return;
  usher = await startUsher();
  appServer = await startAppServer();
  const origin = `http://localhost:${appServer.port}`;
  const created = await usher.createApp({ name: "Acme Notes", appUrl: `${origin}/app` });
  appServer.configure({ usherUrl: usher.serverUrl, apps: { app: created.app_id } });
  app = {
    ...created,
    origin,
    base44: createClient({ serverUrl: usher.serverUrl, appId: created.app_id, token: created.api_key }),
  };
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});
after(async () => {
  await browser?.close();
  await appServer?.close();
  await usher?.stop();
});

// Each test gets a fresh page (in a browser context of its own) whose console is watched for
// CSP violations and page errors, and whose main-frame navigations are kept: the SDK removes
// `access_token` from the address bar once it has read it, so the URL the browser landed on is
// the last navigation's, not the page's URL.
let page;
let problems;
let navigations;
beforeEach(async () => {
  if (skip) return;
  problems = [];
  navigations = [];
  page = await browser.newPage();
  page.on("request", (request) => {
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) navigations.push(request.url());
  });
  page.on("console", (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(`${page.url()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`${page.url()}: ${error.message}`));
});
afterEach(async () => {
  if (skip) return;
  await page.close();
  assert.deepEqual(problems, [], "the browser reported problems on a page");
});

/**
 * The browser build of the official SDK and what it imports, as an app's bundler would ship
 * them: the app server below serves these files from this folder's node_modules.
 */
const NODE_MODULES = path.join(import.meta.dirname, "node_modules");
const IMPORT_MAP = {
  imports: {
    "@base44/sdk": "/node_modules/@base44/sdk/dist/index.js",
    axios: "/node_modules/axios/dist/esm/axios.js",
    uuid: "/node_modules/uuid/dist/index.js",
    "socket.io-client": "/node_modules/socket.io-client/dist/socket.io.esm.min.js",
    partysocket: "/node_modules/partysocket/dist/index.mjs",
  },
};

/**
 * A stand-in for apps on their own origin. `/SEGMENT…` answers the page of the app configured
 * for SEGMENT: it runs the official SDK in the browser (`createClient` with `serverUrl` and
 * `appBaseUrl` on Usher, as the README says), which takes `access_token` from the URL, and
 * shows what `auth.me()` answered, across origins. Its buttons call `auth.redirectToLogin()`
 * and `auth.logout()`.
 */
async function startAppServer() {
  let config = { apps: {} };
  const server = http.createServer(async (req, res) => {
    const { pathname } = new URL(req.url, "http://app.invalid");
    if (pathname.startsWith("/node_modules/")) {
      const file = path.join(NODE_MODULES, path.normalize(pathname.slice("/node_modules/".length)));
      try {
        if (!file.startsWith(NODE_MODULES + path.sep)) throw new Error("outside node_modules");
        const body = await readFile(file);
        res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(body);
      } catch {
        res.writeHead(404).end();
      }
      return;
    }
    const appId = config.apps[pathname.split("/")[1]];
    if (!appId) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><title>An app</title><p id="who">Checking…</p>
<button id="sign-in">Sign in</button> <button id="sign-out">Sign out</button>
<script>window.process = { env: { NODE_ENV: "production" } }; // what bundlers define</script>
<script type="importmap">${JSON.stringify(IMPORT_MAP)}</script>
<script type="module">
  import { createClient } from "@base44/sdk";
  const usher = ${JSON.stringify(config.usherUrl)};
  const base44 = createClient({ serverUrl: usher, appBaseUrl: usher, appId: ${JSON.stringify(appId)} });
  const who = document.getElementById("who");
  document.getElementById("sign-in").onclick = () => base44.auth.redirectToLogin();
  document.getElementById("sign-out").onclick = () => base44.auth.logout(location.origin + "/app/signed-out");
  base44.auth.me().then(
    (user) => { who.textContent = "Signed in as " + user.email; },
    (error) => { who.textContent = "Not signed in: " + error.message; },
  );
</script>`);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: server.address().port,
    /** `{ usherUrl, apps: { SEGMENT: appId } }`. */
    configure: (values) => (config = values),
    serve: (segment, appId) => (config.apps[segment] = appId),
    appAt: (pathname) => config.apps[pathname.split("/")[1]],
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** A member of the app with `PASSWORD`, made through the join API (no browser). */
async function member(email) {
  await app.base44.users.inviteUser(email, "user");
  const token = new URL(joinLink(await usher.waitForMail(email))).searchParams.get("token");
  const res = await fetch(`${usher.serverUrl}/api/apps/${app.app_id}/invitations/accept`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token, full_name: "Grace Hopper", password: PASSWORD }),
  });
  assert.equal(res.status, 200, await res.text());
}

/**
 * Submits the form on the page and waits for the browser to land on `urlPattern`; when it does
 * not, the failure says what the browser reported (a blocked redirect is a CSP report).
 */
async function submitAndLand(urlPattern) {
  try {
    await Promise.all([page.waitForURL(urlPattern), page.click("button[type=submit]")]);
  } catch (error) {
    // Chromium aborts the navigation before its console has the report: give it a moment.
    await page.waitForTimeout(1000);
    const reported = problems.join("\n") || "nothing";
    throw new Error(`did not land; still at ${page.url()}; the browser reported:\n${reported}`, { cause: error });
  }
}

/**
 * Asserts the browser landed on `origin` (the app's) at `path` with an `access_token` that
 * works with the official SDK, and that the SDK running in the app's page signed in with it
 * across origins.
 */
async function assertLandedSignedIn(path, email, origin = app.origin) {
  const landed = new URL(navigations.at(-1));
  assert.equal(landed.origin, origin);
  assert.equal(landed.pathname, path);
  const token = landed.searchParams.get("access_token");
  assert.ok(token, `access_token in the landing URL ${landed}`);
  const appId = appServer.appAt(path);
  const me = await createClient({ serverUrl: usher.serverUrl, appId, token }).auth.me();
  assert.equal(me.email, email);
  assert.equal(await whoOnAppPage(), `Signed in as ${email}`);
}

/** What the app's page says once its `auth.me()` answered. */
async function whoOnAppPage() {
  await page.waitForFunction(() => !document.getElementById("who").textContent.startsWith("Checking"));
  return page.textContent("#who");
}

const onApp = (path, origin = app.origin) => (url) => url.origin === origin && url.pathname === path;

test("an invitee joins an app on another origin from the emailed link and lands in it signed in", { skip }, async () => {
  await app.base44.users.inviteUser("ada@example.com", "user");
  const link = joinLink(await usher.waitForMail("ada@example.com"));

  await page.goto(link);
  assert.equal(await page.inputValue("#email"), "ada@example.com");
  assert.match(await page.textContent("main"), /expires \d{1,2} [A-Z][a-z]+ \d{4}, \d{2}:\d{2} UTC\./);
  await page.fill("#full_name", "Ada Lovelace");
  await page.fill("#password", PASSWORD);
  await submitAndLand(onApp("/app"));

  await assertLandedSignedIn("/app", "ada@example.com");
});

test("an invitation to an address that already has an account asks for its password, refuses a wrong one and keeps the link working", { skip }, async () => {
  await member("existing@example.com");
  const link = joinLink((await usher.mailTo("existing@example.com")).at(-1));
  // A pending invitation beside the account, as an import brings it (inviting a member only
  // reminds them, so no API call writes this).
  await usher.sql(
    "UPDATE invitations SET status = 'pending', accepted_at = NULL WHERE email = 'existing@example.com'",
  );

  await page.goto(link);
  assert.match(await page.textContent("#existing-account"), /already have an account/);
  assert.equal(await page.getAttribute("#password", "autocomplete"), "current-password");
  assert.equal(await page.locator("#full_name").count(), 0, "no new-account fields");
  assert.ok(await page.getAttribute("#forgot-password", "href"), "the reset page is offered");
  await page.fill("#password", "not the password");
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
  assert.match(await page.textContent(".error"), /already has an account, and that is not its password/);
  await page.fill("#password", PASSWORD);
  await submitAndLand(onApp("/app"));

  await assertLandedSignedIn("/app", "existing@example.com");
  const res = await fetch(`${usher.serverUrl}/api/apps/${app.app_id}/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "existing@example.com", password: PASSWORD }),
  });
  assert.equal(res.status, 200, "the password is the one the account had");
});

test("the used link's page leads to the sign-in page, which lands in the app", { skip }, async () => {
  await member("used@example.com");
  const link = joinLink((await usher.mailTo("used@example.com")).at(-1));

  await page.goto(link);
  assert.equal(await page.textContent("h1"), "Invitation already accepted");
  await Promise.all([page.waitForURL(/\/login/), page.click("text=Sign in to Acme Notes instead")]);
  await page.fill("#email", "used@example.com");
  await page.fill("#password", PASSWORD);
  await submitAndLand(onApp("/app"));

  await assertLandedSignedIn("/app", "used@example.com");
});

test("redirectToLogin's page (/login?from_url=…) signs in and returns to from_url on the app's origin", { skip }, async () => {
  await member("grace@example.com");
  const fromUrl = `${app.origin}/app/notes/42`;

  await page.goto(`${usher.serverUrl}/login?from_url=${encodeURIComponent(fromUrl)}`);
  await page.fill("#email", "grace@example.com");
  await page.fill("#password", PASSWORD);
  await submitAndLand(onApp("/app/notes/42"));

  await assertLandedSignedIn("/app/notes/42", "grace@example.com");
});

test("a wrong password on the sign-in page says so on the page and keeps the way to the app open", { skip }, async () => {
  await member("typo@example.com");
  await page.goto(`${usher.serverUrl}/apps/${app.app_id}/login`);

  await page.fill("#email", "typo@example.com");
  await page.fill("#password", "not the password");
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
  assert.match(await page.textContent(".error"), /invalid email or password/);
  await page.fill("#password", PASSWORD);
  await submitAndLand(onApp("/app"));

  await assertLandedSignedIn("/app", "typo@example.com");
});

test("a forgotten password is reset from the sign-in page's link, then the new one signs in", { skip }, async () => {
  await member("forgetful@example.com");
  await page.goto(`${usher.serverUrl}/apps/${app.app_id}/login`);

  await Promise.all([page.waitForURL(/forgot-password/), page.click("text=Forgot password?")]);
  await page.fill("#email", "forgetful@example.com");
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
  assert.equal(await page.textContent("h1"), "Check your email");
  const mail = await usher.waitForMail("forgetful@example.com", 2);
  const resetLink = /https?:\/\/\S+\/reset-password\?token=\S+/.exec(mail.text)?.[0];
  assert.ok(resetLink, `a reset link in:\n${mail.text}`);
  await page.goto(resetLink);
  await page.fill("#password", "a brand new password");
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
  assert.equal(await page.textContent("h1"), "Password changed");
  await Promise.all([page.waitForURL(/\/login/), page.click("text=Sign in to Acme Notes")]);
  await page.fill("#email", "forgetful@example.com");
  await page.fill("#password", "a brand new password");
  await submitAndLand(onApp("/app"));

  await assertLandedSignedIn("/app", "forgetful@example.com");
});

test("the app's auth.redirectToLogin() opens the sign-in page, which returns to the page the person was on, signed in", { skip }, async () => {
  await member("redirected@example.com");
  await page.goto(`${app.origin}/app/notes/7`);
  assert.match(await whoOnAppPage(), /^Not signed in/);

  await Promise.all([page.waitForURL(`${usher.serverUrl}/login?**`), page.click("#sign-in")]);
  assert.equal(new URL(page.url()).searchParams.get("from_url"), `${app.origin}/app/notes/7`);
  await page.fill("#email", "redirected@example.com");
  await page.fill("#password", PASSWORD);
  await submitAndLand(onApp("/app/notes/7"));

  await assertLandedSignedIn("/app/notes/7", "redirected@example.com");
});

test("the app's auth.logout() passes through Usher's logout and returns to the app's origin signed out", { skip }, async () => {
  await member("leaving@example.com");
  await page.goto(`${usher.serverUrl}/apps/${app.app_id}/login`);
  await page.fill("#email", "leaving@example.com");
  await page.fill("#password", PASSWORD);
  await submitAndLand(onApp("/app"));
  await assertLandedSignedIn("/app", "leaving@example.com");

  await Promise.all([page.waitForURL(onApp("/app/signed-out")), page.click("#sign-out")]);

  const logout = new URL(navigations.at(-2));
  assert.equal(`${logout.origin}${logout.pathname}`, `${usher.serverUrl}/api/apps/auth/logout`);
  assert.equal(logout.searchParams.get("from_url"), `${app.origin}/app/signed-out`);
  assert.match(await whoOnAppPage(), /^Not signed in/);
  assert.equal(await page.evaluate(() => localStorage.getItem("base44_access_token")), null);
});

test("the revoked and unknown links' pages lead to the sign-in page", { skip }, async () => {
  const { invitation } = await app.base44.users.inviteUser("withdrawn@example.com", "user");
  const revokedLink = joinLink(await usher.waitForMail("withdrawn@example.com"));
  const res = await fetch(`${usher.serverUrl}/api/apps/${app.app_id}/invitations/${invitation.id}/revoke`, {
    method: "POST",
    headers: { authorization: `Bearer ${app.api_key}` },
  });
  assert.equal(res.status, 200, await res.text());
  const unknownLink = revokedLink.replace(/token=[^&]+/, "token=usher_inv_not_a_real_token");

  for (const [link, title] of [
    [revokedLink, "Invitation revoked"],
    [unknownLink, "Invitation link not valid"],
  ]) {
    await page.goto(link);
    assert.equal(await page.textContent("h1"), title);
    await Promise.all([page.waitForURL(`${usher.serverUrl}/apps/${app.app_id}/login`), page.click("text=Sign in to Acme Notes instead")]);
    assert.equal(await page.textContent("h1"), "Sign in to Acme Notes");
  }
});

test("an app that moves while its join page is open: the page says so, the invitation stays unused, and the next submit lands at the new address", { skip }, async () => {
  const moving = await usher.createApp({ name: "Moving Notes", appUrl: `${app.origin}/moving` });
  appServer.serve("moving", moving.app_id);
  const base44 = createClient({ serverUrl: usher.serverUrl, appId: moving.app_id, token: moving.api_key });
  await base44.users.inviteUser("mover@example.com", "user");
  const link = joinLink(await usher.waitForMail("mover@example.com"));
  await page.goto(link);
  // The same app server under another origin: 127.0.0.1 instead of localhost.
  const newOrigin = `http://127.0.0.1:${appServer.port}`;
  const res = await fetch(`${usher.serverUrl}/api/apps/${moving.app_id}/settings`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${moving.api_key}`, "content-type": "application/json" },
    body: JSON.stringify({ app_url: `${newOrigin}/moving` }),
  });
  assert.equal(res.status, 200, await res.text());

  await page.fill("#full_name", "Grace Mover");
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);

  assert.match(await page.textContent(".error"), /Moving Notes moved to a new address while this page was open/);
  const res2 = await fetch(`${usher.serverUrl}/api/apps/${moving.app_id}/invitations?email=mover%40example.com`, {
    headers: { authorization: `Bearer ${moving.api_key}` },
  });
  assert.equal((await res2.json()).items[0].status, "pending");
  assert.equal(await page.inputValue("#full_name"), "Grace Mover");
  await page.fill("#password", PASSWORD);
  await submitAndLand(onApp("/moving", newOrigin));

  await assertLandedSignedIn("/moving", "mover@example.com", newOrigin);
});

test("a form on another site that posts to the join or sign-in route is refused with a page that says so, and uses nothing", { skip }, async () => {
  await member("target@example.com");
  await app.base44.users.inviteUser("lured@example.com", "user");
  const token = new URL(joinLink(await usher.waitForMail("lured@example.com"))).searchParams.get("token");
  const posts = [
    [`/apps/${app.app_id}/join`, { token, full_name: "Lured", password: PASSWORD }],
    [`/apps/${app.app_id}/login`, { email: "target@example.com", password: PASSWORD, from_url: `${app.origin}/app` }],
  ];

  for (const [route, fields] of posts) {
    // The app server stands in for the other site: localhost is another site than 127.0.0.1.
    await page.goto(`${app.origin}/app`);
    await Promise.all([
      page.waitForURL(`${usher.serverUrl}${route}`),
      page.evaluate(
        ([action, fields]) => {
          const form = Object.assign(document.createElement("form"), { method: "post", action });
          for (const [name, value] of Object.entries(fields)) form.append(Object.assign(document.createElement("input"), { name, value }));
          document.body.append(form);
          form.submit();
        },
        [`${usher.serverUrl}${route}`, fields],
      ),
    ]);

    assert.equal(await page.textContent("h1"), "This form was sent from another site", route);
    assert.ok(!navigations.some((url) => new URL(url).searchParams.has("access_token")), "no token was handed out");
  }
  const res = await fetch(`${usher.serverUrl}/api/apps/${app.app_id}/invitations?email=lured%40example.com`, {
    headers: { authorization: `Bearer ${app.api_key}` },
  });
  assert.equal((await res.json()).items[0].status, "pending");
});

/** The first app `serve` created, read from its banner: it lands on Usher's own welcome page. */
function firstApp() {
  const banner = usher.stdout();
  const appId = /app id\s+([0-9a-f]{24})/.exec(banner)[1];
  const apiKey = /API key\s+(usk_[0-9a-f]{64})/.exec(banner)[1];
  return { appId, base44: createClient({ serverUrl: usher.serverUrl, appId, token: apiKey }) };
}

test("every hosted page fits a 375 px wide phone screen, and inline code is never broken inside", { skip }, async () => {
  const longEmail = "a.very.long.address.that.should.wrap@subdomain.example.com";
  await app.base44.users.inviteUser(longEmail, "user");
  const joinPage = joinLink(await usher.waitForMail(longEmail));
  const pages = {
    "join": joinPage,
    "unknown link": joinPage.replace(/token=[^&]+/, "token=usher_inv_not_a_real_token"),
    "sign-in": `${usher.serverUrl}/apps/${app.app_id}/login`,
    "sign-in from redirectToLogin": `${usher.serverUrl}/login?from_url=${encodeURIComponent(`${app.origin}/app/a/rather/long/path/to/a/note?with=query&and=more`)}`,
    "forgot password": `${usher.serverUrl}/apps/${app.app_id}/forgot-password`,
    "reset password": `${usher.serverUrl}/apps/${app.app_id}/reset-password?token=usher_rst_not_a_real_token`,
    "home": `${usher.serverUrl}/`,
    "welcome": `${usher.serverUrl}/apps/${firstApp().appId}/welcome`,
  };
  await page.setViewportSize({ width: 375, height: 740 });

  for (const [name, url] of Object.entries(pages)) {
    await page.goto(url);

    const fit = await page.evaluate(() => {
      const card = document.querySelector("main").getBoundingClientRect();
      const codes = [...document.querySelectorAll("code")].map((code) => ({
        text: code.textContent,
        lines: code.getClientRects().length,
        right: code.getBoundingClientRect().right,
      }));
      return { left: card.left, right: card.right, scrollWidth: document.documentElement.scrollWidth, codes };
    });
    assert.ok(fit.left >= 8 && fit.right <= 375 - 8, `${name}: card at ${fit.left}..${fit.right}`);
    assert.ok(fit.scrollWidth <= 375, `${name}: page scrolls sideways: ${fit.scrollWidth}`);
    for (const code of fit.codes) {
      assert.equal(code.lines, 1, `${name}: <code>${code.text}</code> is broken over ${code.lines} lines`);
      assert.ok(code.right <= fit.right, `${name}: <code>${code.text}</code> sticks out of the card`);
    }
  }
  // Wherever a line happens to end, a command or a name in <code> stays whole: sweep the
  // welcome page, the one with inline code, across phone and small tablet widths.
  assert.equal(new URL(page.url()).pathname.endsWith("/welcome"), true);
  assert.ok((await page.$$("code")).length >= 2, "the welcome page shows inline code");
  for (let width = 320; width <= 640; width += 8) {
    await page.setViewportSize({ width, height: 740 });
    const broken = await page.evaluate(() =>
      [...document.querySelectorAll("code")].filter((code) => code.getClientRects().length !== 1).map((code) => code.textContent),
    );
    assert.deepEqual(broken, [], `at ${width} px`);
  }
});

test("the server's bare address answers a page saying what it is, with the docs and the console", { skip }, async () => {
  const response = await page.goto(usher.serverUrl);

  assert.equal(response.status(), 200);
  assert.match(response.headers()["content-type"], /^text\/html/);
  assert.equal(await page.textContent("h1"), "Usher");
  assert.ok(await page.$('a[href="/api/openapi.json"]'), "a link to the API description");
  assert.ok(await page.$('a[href="https://github.com/usher-dev/usher"]'), "a link to the docs");
  await Promise.all([page.waitForURL(`${usher.serverUrl}/console`), page.click("text=the console")]);
  assert.ok(await page.$("form[action='/console/sign-in']"), "the console's sign-in form");
});

test("an invitee of the first app lands on Usher's stand-in welcome page signed in", { skip }, async () => {
  // The first app `serve` created lands on Usher's own welcome page, which calls auth.me().
  const { appId, base44 } = firstApp();
  await base44.users.inviteUser("browser@example.com", "admin");
  const link = joinLink(await usher.waitForMail("browser@example.com"));

  await page.goto(link);
  await page.fill("#full_name", "Barbara Liskov");
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForURL(/access_token=/), page.click("button[type=submit]")]);

  const landed = new URL(page.url());
  assert.equal(landed.pathname, `/apps/${appId}/welcome`);
  await page.waitForFunction(() => document.getElementById("who").textContent.startsWith("Signed in"));
  assert.equal(await page.textContent("#who"), "Signed in as browser@example.com (admin).");
  const me = await createClient({ serverUrl: usher.serverUrl, appId, token: landed.searchParams.get("access_token") }).auth.me();
  assert.equal(me.full_name, "Barbara Liskov");
});

test("a too-short password keeps the invitee on the form with the reason", { skip }, async () => {
  await app.base44.users.inviteUser("short@example.com", "user");
  const link = joinLink(await usher.waitForMail("short@example.com"));
  await page.goto(link);

  // The browser's own minlength check would stop the form; remove it to reach the server's.
  await page.evaluate(() => document.getElementById("password").removeAttribute("minlength"));
  await page.fill("#password", "short");
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);

  assert.match(await page.textContent(".error"), /at least 8 characters/);
  assert.equal(await page.inputValue("#email"), "short@example.com");
});
