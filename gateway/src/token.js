// HS256 bearer tokens in the service's format (service/auth/token.h): claims
// "sub" (account id for panel tokens), "scope" (space-separated: panel, admin,
// antivirus, node), "exp", "iat", "iss" = "egress". The gateway itself never
// reads tokens; this is for the demo URL printed by scripts/run.sh and for
// the tests, which need to act as the provider's panel and admin tools.
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";

const b64url = (buf) => Buffer.from(buf).toString("base64url");

export function signToken({ secret, subject, scopes, ttlSeconds = 3600, now = Math.floor(Date.now() / 1000) }) {
  if (!secret || Buffer.byteLength(secret) < 32) throw new Error("the token secret must be at least 32 bytes");
  if (!subject) throw new Error("a token needs a subject");
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const payload = b64url(JSON.stringify({ iss: "egress", sub: subject, scope: [].concat(scopes).join(" "), iat: now, exp: now + ttlSeconds }));
  const sig = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${sig}`;
}

export function readSecretFile(path) {
  return readFileSync(path, "utf8").trim();
}
