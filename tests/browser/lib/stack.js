// Starts the real things for the gateway and browser tests, and stops them:
//   PostgreSQL 15 (initdb in a temp dir, unix socket only, fsync off, run as
//   `postgres` when we are root), egress-service on a free port, the gateway
//   on a free port, and Debian's chromium through playwright-core.
// Every child gets PR_SET_PDEATHSIG through setpriv, so nothing outlives a
// test process that is killed; temp dirs are removed on exit, and dirs left
// by a killed run (owner pid gone) are swept at the next start.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, "..", "..", "..");
export const gatewayDir = join(repoRoot, "gateway");
const pgBin = process.env.EGRESS_PG_BIN || "/usr/lib/postgresql/15/bin";
const kPrefix = "egress-browser-";

const children = new Set();
const tempDirs = new Set();

function cleanupSync() {
  for (const child of children) {
    try {
      child.kill(child.stopSignal || "SIGTERM");
    } catch {}
  }
  // Give PostgreSQL a moment to remove its socket and shared memory.
  const until = Date.now() + 3000;
  for (const child of children) {
    while (child.exitCode === null && child.signalCode === null && isAlive(child.pid) && Date.now() < until) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}
process.on("exit", cleanupSync);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    cleanupSync();
    process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 }[sig]));
  });
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// Removes temp dirs of runs whose process is gone (killed without cleanup).
function sweepStale() {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(kPrefix)) continue;
    const dir = join(tmpdir(), name);
    let owner = 0;
    try {
      owner = Number(readFileSync(join(dir, "owner.pid"), "utf8"));
    } catch {
      continue;
    }
    if (owner && !isAlive(owner)) {
      try {
        const pm = readFileSync(join(dir, "pg", "postmaster.pid"), "utf8").split("\n")[0];
        if (pm) process.kill(Number(pm), "SIGQUIT");
      } catch {}
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

export function makeTempDir(label) {
  sweepStale();
  const dir = mkdtempSync(join(tmpdir(), `${kPrefix}${label}-`));
  writeFileSync(join(dir, "owner.pid"), String(process.pid));
  tempDirs.add(dir);
  return dir;
}

// Spawns a child that dies with us, collecting its output; resolves once a
// line of stdout matches `ready` (returns the match), rejects if it exits.
function startProcess(name, cmd, args, { ready, env, uid, gid, stopSignal = "SIGTERM", timeoutMs = 30000, logFile } = {}) {
  const setpriv = ["--pdeathsig", stopSignal === "SIGQUIT" ? "SIGQUIT" : "SIGTERM"];
  if (uid !== undefined) setpriv.push(`--reuid=${uid}`, `--regid=${gid}`, "--clear-groups");
  const child = spawn("setpriv", [...setpriv, "--", cmd, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  child.stopSignal = stopSignal;
  child.name = name;
  children.add(child);
  child.output = "";
  const onData = (d) => {
    child.output += d;
    if (child.output.length > 2e6) child.output = child.output.slice(-1e6);
    if (process.env.EGRESS_TEST_VERBOSE) process.stderr.write(`[${name}] ${d}`);
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  child.exited = new Promise((res) => child.on("exit", (code, sig) => {
    children.delete(child);
    if (logFile) writeFileSync(logFile, child.output);
    res({ code, sig });
  }));
  if (!ready) return Promise.resolve({ child, match: null });
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${timeoutMs} ms:\n${child.output.slice(-4000)}`)), timeoutMs);
    let buf = "";
    child.stdout.on("data", (d) => {
      buf += d;
      const m = ready.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolvePromise({ child, match: m });
      }
    });
    child.on("exit", (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? sig}) before it was ready:\n${child.output.slice(-4000)}`));
    });
  });
}

export async function stopProcess(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill(child.stopSignal);
  const t = setTimeout(() => child.kill("SIGKILL"), 10000);
  await child.exited;
  clearTimeout(t);
}

// --- PostgreSQL ---------------------------------------------------------------

export async function startPostgres(root) {
  const asRoot = process.getuid() === 0;
  const uid = asRoot ? Number(execFileSync("id", ["-u", "postgres"]).toString()) : undefined;
  const gid = asRoot ? Number(execFileSync("id", ["-g", "postgres"]).toString()) : undefined;
  const data = join(root, "pg");
  const sock = join(root, "sock");
  mkdirSync(data);
  mkdirSync(sock);
  if (asRoot) {
    for (const d of [root, data, sock]) chownSync(d, uid, gid);
    chmodSync(root, 0o755);
  }
  chmodSync(data, 0o700);
  const user = asRoot ? "postgres" : process.env.USER || "postgres";
  const priv = asRoot ? ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--"] : [];
  const initdb = [join(pgBin, "initdb"), "-D", data, "-U", user, "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions", "--no-sync"];
  execFileSync(priv[0] || initdb[0], [...priv.slice(1), ...(priv.length ? initdb : initdb.slice(1))], { stdio: "pipe" });
  const { child } = await startProcess(
    "postgres",
    join(pgBin, "postgres"),
    ["-D", data, "-k", sock, "-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=100", "-c", "logging_collector=off"],
    { uid, gid, stopSignal: "SIGQUIT" },
  );
  // postgres logs to stderr; wait until the socket answers.
  const psqlArgs = ["-h", sock, "-U", user, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qtA"];
  const until = Date.now() + 30000;
  for (;;) {
    try {
      execFileSync(join(pgBin, "psql"), [...psqlArgs, "-c", "SELECT 1"], { stdio: "pipe" });
      break;
    } catch (err) {
      if (Date.now() > until || !child || child.exitCode !== null) throw new Error(`PostgreSQL did not start: ${child?.output ?? err.message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  execFileSync(join(pgBin, "psql"), [...psqlArgs, "-c", "CREATE DATABASE egress"], { stdio: "pipe" });
  const conninfo = `host=${sock} user=${user} dbname=egress`;
  return {
    child,
    conninfo,
    // Runs SQL, returns rows as arrays of text (tab-separated output).
    sql(query) {
      const out = execFileSync(join(pgBin, "psql"), ["-h", sock, "-U", user, "-d", "egress", "-v", "ON_ERROR_STOP=1", "-qtA", "-F", "\t", "-c", query], { stdio: "pipe" }).toString();
      return out.split("\n").filter((l) => l !== "").map((l) => l.split("\t"));
    },
  };
}

// --- egress-service -----------------------------------------------------------

export function serviceBinary() {
  const bin = process.env.EGRESS_SERVICE_BIN || join(process.env.EGRESS_BUILD_DIR || join(repoRoot, "build"), "service", "egress-service");
  if (!existsSync(bin)) throw new Error(`egress-service not found at ${bin}: build it (cmake --build build --target egress-service) or set EGRESS_SERVICE_BIN`);
  return bin;
}

export function writeSecret(root) {
  const file = join(root, "token.secret");
  const secret = randomBytes(32).toString("hex");
  writeFileSync(file, secret + "\n", { mode: 0o600 });
  return { file, secret };
}

export async function startService({ conninfo, secretFile, logFile, extraArgs = [] }) {
  const { child, match } = await startProcess(
    "egress-service",
    serviceBinary(),
    ["--listen=127.0.0.1:0", `--database=${conninfo}`, "--database-wait=10s", ...extraArgs],
    { ready: /egress-service listening on (\S+)/, env: { EGRESS_TOKEN_SECRET_FILE: secretFile }, logFile },
  );
  return { child, address: match[1] };
}

export async function startGateway({ upstreams, logFile, extraArgs = [] }) {
  const { child, match } = await startProcess(
    "egress-gateway",
    process.execPath,
    // EGRESS_GATEWAY_NODE_FLAGS: extra node flags, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    [...(process.env.EGRESS_GATEWAY_NODE_FLAGS || "").split(" ").filter(Boolean), join(gatewayDir, "src", "main.js"), "--listen=127.0.0.1:0", `--upstream=${upstreams.join(",")}`, ...extraArgs],
    { ready: /egress-gateway listening on (\S+)/, logFile },
  );
  return { child, url: match[1] };
}

// --- chromium -------------------------------------------------------------------

export async function launchChromium(root) {
  const { chromium } = await import(join(gatewayDir, "node_modules", "playwright-core", "index.mjs"));
  const executablePath = process.env.EGRESS_CHROMIUM || "/usr/bin/chromium";
  if (!existsSync(executablePath)) throw new Error(`${executablePath} is missing: apt-get install chromium (scripts/packages.txt)`);
  const profile = join(root, "chromium-profile");
  mkdirSync(profile);
  return chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
    viewport: { width: 1280, height: 900 },
  });
}

export function artifactsDir() {
  const dir = process.env.EGRESS_ARTIFACTS_DIR || join(repoRoot, "build", "tests", "browser", "artifacts");
  mkdirSync(dir, { recursive: true });
  return dir;
}
