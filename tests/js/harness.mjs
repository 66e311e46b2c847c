// Runs a real `usher serve` (the binary from `cargo build`) on a free loopback port with a
// fresh database and the file mail transport in a temporary directory (or, with `smtp`, the
// real SMTP server of tests/smtp writing into the same directory), and reads back the mail it
// writes. Used by every *.test.mjs file in this folder.
//
// The database is a SQLite file, or with USHER_TEST_DATABASE=postgres a PostgreSQL database of
// its own (created and dropped with psql) on the server USHER_TEST_PG_URL names.

import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

export const USHER_BIN = process.env.USHER_BIN ?? path.resolve(import.meta.dirname, "../../target/debug/usher");
const PATIENCE_MS = 15_000;

const SMTP_PYTHON = process.env.USHER_TEST_SMTP_PYTHON ?? path.resolve(import.meta.dirname, "../../target/smtp-venv/bin/python");
const SMTP_SERVER = path.resolve(import.meta.dirname, "../smtp/server.py");

/** tests/smtp/server.py (aiosmtpd, which scripts/test installs) on a free port, writing into `dir`. */
async function startSmtp(dir) {
  const port = await freePort();
  const child = spawn(SMTP_PYTHON, [SMTP_SERVER, "--port", String(port), "--dir", dir], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stderr.on("data", (chunk) => (output += chunk));
  await new Promise((resolve, reject) => {
    child.stdout.on("data", (chunk) => String(chunk).includes("ready") && resolve());
    child.on("exit", (code) => reject(new Error(`the test SMTP server exited ${code}:\n${output}`)));
    child.on("error", reject);
  });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  return {
    url: `smtp://127.0.0.1:${port}?tls=none`,
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

const PG_URL = process.env.USHER_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** A fresh database for one server: its DATABASE_URL, and how to remove it. */
async function freshDatabase(dir) {
  const backend = process.env.USHER_TEST_DATABASE ?? "sqlite";
  if (backend === "sqlite") return { url: `sqlite://${dir}/usher.db?mode=rwc`, drop: async () => {} };
  if (backend !== "postgres") throw new Error(`USHER_TEST_DATABASE=${backend}: expected sqlite or postgres`);
  const name = `usher_js_${randomBytes(12).toString("hex")}`;
  const psql = (sql) => promisify(execFile)("psql", [PG_URL, "-q", "-c", sql]);
  await psql(`CREATE DATABASE ${name}`);
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function until(what, probe) {
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Starts `usher serve`; `resendInterval` is USHER_RESEND_INTERVAL (0 lets tests re-invite at
 * once), `smtp` sends the mail through the real SMTP server of tests/smtp instead of the file
 * transport, and `extraEnv` sets any other variable.
 */
export async function startUsher({ resendInterval = 0, smtp = false, extraEnv = {} } = {}) {
  const dir = await mkdtemp(path.join(os.tmpdir(), "usher-js-"));
  const database = await freshDatabase(dir);
  const smtpServer = smtp ? await startSmtp(path.join(dir, "mail")) : null;
  const port = await freePort();
  const serverUrl = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    DATABASE_URL: database.url,
    USHER_LISTEN: `127.0.0.1:${port}`,
    USHER_PUBLIC_URL: serverUrl,
    USHER_MAIL_URL: smtpServer?.url ?? `file://${dir}/mail`,
    USHER_RESEND_INTERVAL: String(resendInterval),
    RUST_LOG: "info",
    ...extraEnv,
  };
  const child = spawn(USHER_BIN, ["serve"], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.on("exit", resolve));
  await until(`${serverUrl}/healthz`, async () => {
    if (child.exitCode !== null) throw new Error(`usher serve exited ${child.exitCode}:\n${stderr}`);
    try {
      return (await fetch(`${serverUrl}/healthz`)).status === 200;
    } catch {
      return false;
    }
  });

  return {
    serverUrl,
    stdout: () => stdout,
    stderr: () => stderr,

    /** `usher app create … --json` against the same database; returns the parsed object. */
    async createApp({ name = "Seed App", appUrl = "https://app.example.test/home", openSignup = false } = {}) {
      const args = ["app", "create", "--name", name, "--app-url", appUrl, "--json"];
      const { stdout: out } = await promisify(execFile)(USHER_BIN, openSignup ? [...args, "--open-signup"] : args, { env });
      const lines = out.trim().split("\n");
      if (lines.length !== 1) throw new Error(`expected one JSON line, got:\n${out}`);
      return JSON.parse(lines[0]);
    },

    /** `usher console link --app ID` against the same database; returns the printed link. */
    async consoleLink(appId, { validForSecs = 600 } = {}) {
      const args = ["console", "link", "--app", appId, "--valid-for-secs", String(validForSecs)];
      const { stdout: out } = await promisify(execFile)(USHER_BIN, args, { env });
      return out.trim();
    },

    /** Every message to `to` delivered so far, oldest first. */
    async mailTo(to) {
      let names;
      try {
        names = (await readdir(path.join(dir, "mail"))).filter((n) => n.endsWith(".eml"));
      } catch {
        return [];
      }
      const mails = [];
      for (const name of names) {
        const file = path.join(dir, "mail", name);
        const mail = parseMail(await readFile(file, "utf8"));
        mail.writtenAt = (await stat(file)).mtimeMs;
        if ((mail.headers.to ?? "").includes(to)) mails.push(mail);
      }
      return mails.sort((a, b) => a.writtenAt - b.writtenAt);
    },

    /** Waits until `count` messages to `to` arrived; returns the newest. */
    async waitForMail(to, count = 1) {
      const mails = await until(`${count} mail(s) to ${to}`, async () => {
        const found = await this.mailTo(to);
        return found.length >= count ? found : null;
      });
      return mails[mails.length - 1];
    },

    /**
     * Runs one SQL statement on the server's database (sqlite3 or psql): for a state no API
     * call writes, such as rows an import brought.
     */
    async sql(statement) {
      if (database.url.startsWith("sqlite://")) {
        const file = database.url.slice("sqlite://".length).split("?")[0];
        await promisify(execFile)("sqlite3", ["-cmd", ".timeout 5000", file, statement]);
      } else {
        await promisify(execFile)("psql", [database.url, "-q", "-c", statement]);
      }
    },

    async stop() {
      child.kill("SIGTERM");
      await exited;
      await smtpServer?.stop();
      await database.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A minimal RFC 5322 / MIME reader: headers, and the decoded text and HTML parts. */
export function parseMail(raw) {
  const { headers, body } = splitHeaders(raw);
  const parts = {};
  const boundary = /boundary="?([^";]+)"?/i.exec(headers["content-type"] ?? "")?.[1];
  const chunks = boundary ? body.split(`--${boundary}`).slice(1, -1) : [raw];
  for (const chunk of chunks) {
    const part = splitHeaders(chunk.replace(/^\r?\n/, ""));
    const type = (part.headers["content-type"] ?? "text/plain").split(";")[0].trim();
    parts[type] = decode(part.body, part.headers["content-transfer-encoding"]);
  }
  return { raw, headers, text: parts["text/plain"] ?? "", html: parts["text/html"] ?? "" };
}

function splitHeaders(text) {
  const end = text.search(/\r?\n\r?\n/);
  const head = end < 0 ? text : text.slice(0, end);
  const body = end < 0 ? "" : text.slice(end).replace(/^\r?\n\r?\n/, "");
  const headers = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, body };
}

function decode(body, encoding = "7bit") {
  switch (encoding.toLowerCase()) {
    case "base64":
      return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
    case "quoted-printable":
      return Buffer.from(
        body.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/gi, (_, hex) => String.fromCharCode(parseInt(hex, 16))),
        "latin1",
      ).toString("utf8");
    default:
      return body;
  }
}

/** The join link in an invitation's text part. */
export function joinLink(mail) {
  const link = /https?:\/\/\S+\/join\?token=\S+/.exec(mail.text)?.[0];
  if (!link) throw new Error(`no join link in:\n${mail.text}`);
  return link;
}

/** The hidden inputs and action of the join page's form. */
export function formOf(html, pageUrl) {
  const action = unescapeHtml(/<form[^>]*action="([^"]*)"/.exec(html)?.[1] ?? "");
  const fields = {};
  for (const [, name, value] of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) {
    fields[name] = unescapeHtml(value);
  }
  return { action: new URL(action, pageUrl).toString(), fields };
}

/** What a browser makes of an attribute value. */
function unescapeHtml(text) {
  return text
    .replace(/&#x([0-9a-f]+);/gi, (_, hex) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec) => String.fromCodePoint(Number(dec)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}
