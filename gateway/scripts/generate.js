#!/usr/bin/env node
// Generates gen/ from ../proto (the API) and proto/ (gRPC health) with
// Debian's protoc and @bufbuild/protoc-gen-es. Run: npm run generate.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const apiRoot = join(root, "..", "proto");
const localRoot = join(root, "proto");
const out = join(root, "gen");
const protoc = process.env.PROTOC || "protoc";

const api = readdirSync(join(apiRoot, "egress", "v1"))
  .filter((f) => f.endsWith(".proto"))
  .map((f) => join("egress", "v1", f));
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const plugin = join(root, "node_modules", ".bin", "protoc-gen-es");
const common = [`--plugin=protoc-gen-es=${plugin}`, `--es_out=${out}`, "--es_opt=target=js+dts,import_extension=js"];
execFileSync(protoc, [...common, `-I${apiRoot}`, "-I/usr/include", ...api], { stdio: "inherit" });
execFileSync(protoc, [...common, `-I${localRoot}`, "grpc/health/v1/health.proto"], { stdio: "inherit" });
// Test-only services (gateway/test/proto), for the unit tests.
execFileSync(protoc, [...common, `-I${join(root, "test", "proto")}`, "egress/test/v1/stream.proto"], { stdio: "inherit" });
console.log(`generated ${api.length + 2} files into gen/`);
