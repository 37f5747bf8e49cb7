// Every HTTP scenario of the as-run bench is driven by wrk, a C load generator
// that costs a few percent of a core where a Node client parsing 42 KB answers
// took about as much CPU as the server it measured. Installed on first use
// from Debian (as scripts/browser.sh installs chromium).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Scenario } from './load.ts';

const WRK = '/usr/bin/wrk';

export function ensureWrk(say: (line: string) => void): void {
  if (existsSync(WRK)) return;
  say('installing wrk (Debian package, first run only)');
  execFileSync(
    'bash',
    [
      '-c',
      'export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q --no-install-recommends wrk >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends wrk >/dev/null; }',
    ],
    { stdio: 'inherit' },
  );
}

/**
 * The scenario's request, sent again and again on each connection. An answer
 * other than 200 or with GraphQL errors counts as an error (wrk's own count
 * covers only socket errors and statuses >= 400); done() prints one JSON line.
 */
function luaScript(body: string, token: string): string {
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    Accept: 'application/graphql-response+json, application/json',
  };
  if (token) headers.Authorization = `Bearer ${token}`;
  const lua = (s: string) => `[==[${s}]==]`;
  return `
wrk.method = "POST"
wrk.body = ${lua(body)}
${Object.entries(headers)
  .map(([k, v]) => `wrk.headers[ ${lua(k)} ] = ${lua(v)}`)
  .join('\n')}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0; first_error = nil end
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    bad = bad + 1
    -- Plain characters only, so that done() can print it inside a JSON string.
    if first_error == nil then first_error = (string.gsub(status .. " " .. string.sub(body, 1, 200), '[^%w .,:_-]', ' ')) end
  end
end
function done(summary, latency, requests)
  local bad_total, first = 0, ""
  for _, t in ipairs(threads) do
    bad_total = bad_total + t:get("bad")
    local f = t:get("first_error")
    if f ~= nil and first == "" then first = f end
  end
  local e = summary.errors
  io.write(string.format('JSON {"requests":%d,"durationUs":%d,"socketErrors":%d,"badAnswers":%d,"p50Us":%d,"p99Us":%d,"maxUs":%d,"firstError":%q}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, bad_total,
    latency:percentile(50), latency:percentile(99), latency.max, first))
end
`;
}

export interface WrkOptions {
  url: string;
  token: string;
  connections: number;
  durationMs: number;
  /** The server's processes, whose CPU per request is measured (/proc/<pid>/stat). */
  serverPid: number | (() => number[]);
  /** The PostgreSQL backends serving it (read after the warm-up, which opened them). */
  databasePids?: () => Promise<number[]>;
}

export interface WrkResult {
  name: string;
  requests: number;
  errors: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  max: number;
  firstError?: string;
  /** CPU ms per request: the server's process (every thread) and the whole machine. */
  serverCpuMs: number;
  /** The server's PostgreSQL backends, CPU ms per request (NaN when not measured). */
  databaseCpuMs: number;
  machineCpuMs: number;
  /** Mean busy share of the machine's cores during the run (1: every core busy). */
  machineBusy: number;
}

const TICK_MS = 10;

/** utime + stime of a process (all its threads), ms. */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
}

/** The machine's busy and total CPU time over every core, ms. */
export function machineCpu(): { busyMs: number; totalMs: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  const busy = user + nice + system + irq + softirq;
  return { busyMs: busy * TICK_MS, totalMs: (busy + idle + iowait + steal) * TICK_MS };
}

/** Runs wrk (one thread, `connections` keep-alive connections) for one scenario. */
export async function runWrk(scenario: Scenario, o: WrkOptions): Promise<WrkResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-wrk-'));
  const script = path.join(dir, 'scenario.lua');
  writeFileSync(script, luaScript(JSON.stringify({ query: scenario.query, variables: scenario.variables }), o.token));
  // Per backend: a pool may close idle connections (onair's, while PostGraphile runs) or open new ones
  // during the run, so the CPU counted is that of the backends alive at the end, since the start or since they began.
  const backendCpu = async () => {
    const cpu = new Map<number, number>();
    for (const pid of (await o.databasePids?.()) ?? []) {
      try {
        cpu.set(pid, processCpuMs(pid));
      } catch {
        // gone meanwhile
      }
    }
    return cpu;
  };
  const database0 = await backendCpu();
  const serverPids = typeof o.serverPid === 'number' ? [o.serverPid] : o.serverPid();
  const serverCpu = () => serverPids.reduce((sum, pid) => sum + processCpuMs(pid), 0);
  const server0 = serverCpu();
  const machine0 = machineCpu();
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(
      WRK,
      [
        '-t',
        '1',
        '-c',
        String(o.connections),
        '-d',
        `${Math.max(1, Math.round(o.durationMs / 1000))}s`,
        '--timeout',
        '10s',
        '-s',
        script,
        o.url,
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let text = '';
    child.stdout.on('data', (c: Buffer) => (text += c.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${code}: ${text}`))));
  });
  const serverMs = serverCpu() - server0;
  const database1 = o.databasePids ? await backendCpu() : new Map<number, number>();
  let databaseMs = 0;
  for (const [pid, ms] of database1) databaseMs += ms - (database0.get(pid) ?? 0);
  const machine1 = machineCpu();
  rmSync(dir, { recursive: true, force: true });
  const line = out.split('\n').find((l) => l.startsWith('JSON '));
  if (!line) throw new Error(`wrk printed no summary: ${out}`);
  const r = JSON.parse(line.slice(5)) as {
    requests: number;
    durationUs: number;
    socketErrors: number;
    badAnswers: number;
    p50Us: number;
    p99Us: number;
    maxUs: number;
    firstError: string;
  };
  const n = Math.max(1, r.requests);
  return {
    name: scenario.name,
    requests: r.requests,
    errors: r.socketErrors + r.badAnswers,
    reqPerSec: r.requests / (r.durationUs / 1e6),
    p50: r.p50Us / 1000,
    p99: r.p99Us / 1000,
    max: r.maxUs / 1000,
    firstError: r.firstError || undefined,
    serverCpuMs: serverMs / n,
    databaseCpuMs: database1.size ? databaseMs / n : Number.NaN,
    machineCpuMs: (machine1.busyMs - machine0.busyMs) / n,
    machineBusy: (machine1.busyMs - machine0.busyMs) / Math.max(1, machine1.totalMs - machine0.totalMs),
  };
}
