// better-auth's organization plugin on SQLite, as a peer for the invite benchmarks.
// PORT and DATA_DIR are required. Once listening it signs up an owner, creates an
// organization, writes DATA_DIR/session.json ({cookie, organizationId}) and prints `ready`.
// package.json pins kysely to 0.28: better-auth accepts 0.29 too, which needs Node 22.
import { appendFile, rename, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { join } from "node:path";
import Database from "better-sqlite3";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { organization } from "better-auth/plugins/organization";

const port = Number(process.env.PORT);
const dataDir = process.env.DATA_DIR;
if (!port || !dataDir) throw new Error("usage: PORT=... DATA_DIR=... node server.mjs");
const baseURL = `http://127.0.0.1:${port}`;
const mail = join(dataDir, "invitations.log");

// No pragmas of our own: SQLite's defaults, as better-auth leaves them.
const db = new Database(join(dataDir, "better-auth.db"));
const auth = betterAuth({
  baseURL,
  secret: "usher-bench-better-auth-secret-0123456789",
  database: db,
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
  emailAndPassword: { enabled: true },
  plugins: [
    organization({
      // Counted over at most 100 pending rows (the adapter's default findMany limit), so any
      // value above 100 never trips; the default, 100, would.
      invitationLimit: 1_000_000,
      membershipLimit: 1_000_000,
      // The file "mail transport": one line per invitation.
      sendInvitationEmail: ({ email, id }) =>
        appendFile(mail, `${email} ${id} ${baseURL}/accept-invitation/${id}\n`),
    }),
  ],
});

await (await getMigrations(auth.options)).runMigrations();
const server = createServer(toNodeHandler(auth));
await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));

// Through HTTP like any client; Origin satisfies better-auth's CSRF check.
async function post(path, body, cookie) {
  const res = await fetch(`${baseURL}/api/auth${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: baseURL, ...(cookie && { cookie }) },
    body: JSON.stringify(body),
  });
  return { res, json: await res.json() };
}
const owner = { name: "Owner", email: "owner@example.com", password: "bench-password-1" };
await post("/sign-up/email", owner); // on a reused DATA_DIR the owner exists already
const { res, json: signIn } = await post("/sign-in/email", owner);
if (!res.ok) throw new Error(`sign-in: ${JSON.stringify(signIn)}`);
const cookie = res.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
const slug = `bench-${Date.now()}`;
const { json: org } = await post("/organization/create", { name: slug, slug }, cookie);
if (!org.id) throw new Error(`organization/create: ${JSON.stringify(org)}`);

const session = join(dataDir, "session.json");
await writeFile(`${session}.tmp`, JSON.stringify({ cookie, organizationId: org.id }));
await rename(`${session}.tmp`, session);
const pragma = (name) => db.pragma(name, { simple: true });
console.log(`sqlite journal_mode=${pragma("journal_mode")} synchronous=${pragma("synchronous")}`);
console.log("ready");
