#!/usr/bin/env node
// Prints a signed token, or the panel URL carrying one:
//   node gateway/bin/mint-token.js --secret-file=var/token.secret --subject=demo-alice [--scope=panel]
//     [--ttl=86400] [--url=http://127.0.0.1:8080]
// With --url, prints <url>/#token=...&account=<subject> (the demo link).
import { parseArgs } from "node:util";
import { readSecretFile, signToken } from "../src/token.js";

const { values } = parseArgs({
  options: {
    "secret-file": { type: "string" },
    subject: { type: "string" },
    scope: { type: "string", default: "panel" },
    ttl: { type: "string", default: "86400" },
    url: { type: "string" },
    help: { type: "boolean" },
  },
});
if (values.help || !values["secret-file"] || !values.subject) {
  process.stderr.write("usage: mint-token.js --secret-file=FILE --subject=ACCOUNT [--scope=panel|admin|antivirus] [--ttl=SECONDS] [--url=http://host:port]\n");
  process.exit(values.help ? 0 : 2);
}
const token = signToken({
  secret: readSecretFile(values["secret-file"]),
  subject: values.subject,
  scopes: values.scope.split(/[ ,]+/),
  ttlSeconds: Number(values.ttl),
});
if (values.url) {
  const frag = new URLSearchParams({ token, account: values.subject });
  process.stdout.write(`${values.url.replace(/\/$/, "")}/#${frag}\n`);
} else {
  process.stdout.write(token + "\n");
}
