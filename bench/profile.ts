// BENCH_PROFILE=<dir>: the CPU profile of this process (the server) during one
// load scenario, written as <dir>/<name>.cpuprofile (open it in Chrome's
// DevTools), and a summary printed: the functions and packages with the most
// self time, and the inclusive time of the frames that matter for a request.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Where a frame's code lives: a package, onair's own code, or node itself. */
function ownerOf(url: string): string {
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.includes('/src/')) return `onair ${url.slice(url.indexOf('/src/') + 1)}`;
  if (url.includes('/prisma/generated/')) return 'prisma (generated client)';
  if (url.startsWith('node:')) return 'node';
  return url ? path.basename(url) : '(native / gc / idle)';
}

const frameName = (f: CallFrame) =>
  `${f.functionName || '(anonymous)'} ${f.url ? `${ownerOf(f.url).replace(/^onair /, '')}:${f.lineNumber + 1}` : ''}`.trim();

function top(map: Map<string, number>, n: number, totalMs: number): string[] {
  return [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(
      ([name, ms]) => `  ${((100 * ms) / totalMs).toFixed(1).padStart(5)} %  ${ms.toFixed(0).padStart(6)} ms  ${name}`,
    );
}

/** Self time by function and by package; inclusive time by package (each sample counted once per package on its stack). */
export function summarize(profile: CpuProfile, requests?: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfByFunction = new Map<string, number>();
  const selfByOwner = new Map<string, number>();
  const inclusiveByOwner = new Map<string, number>();
  let busyMs = 0;
  let totalMs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    totalMs += ms;
    const node = byId.get(profile.samples[i]);
    if (!node) continue;
    const name = node.callFrame.functionName;
    if (name === '(idle)' || name === '(program)') continue;
    busyMs += ms;
    const fn = frameName(node.callFrame);
    selfByFunction.set(fn, (selfByFunction.get(fn) ?? 0) + ms);
    const owner = name === '(garbage collector)' ? '(gc)' : ownerOf(node.callFrame.url);
    selfByOwner.set(owner, (selfByOwner.get(owner) ?? 0) + ms);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)!.callFrame;
      if (!frame.url) continue;
      const o = ownerOf(frame.url);
      if (seen.has(o)) continue;
      seen.add(o);
      inclusiveByOwner.set(o, (inclusiveByOwner.get(o) ?? 0) + ms);
    }
  }
  const perRequest = requests
    ? `, ${((busyMs / requests) * 1000).toFixed(0)} µs busy per request over ${requests} requests`
    : '';
  return [
    `profile: ${totalMs.toFixed(0)} ms sampled, ${busyMs.toFixed(0)} ms busy (not idle)${perRequest}`,
    'self time by function (share of busy):',
    ...top(selfByFunction, 40, busyMs),
    'self time by package:',
    ...top(selfByOwner, 25, busyMs),
    'inclusive time by package (a sample counts once per package on its stack):',
    ...top(inclusiveByOwner, 30, busyMs),
  ].join('\n');
}

/**
 * Runs `fn` under the CPU profiler when BENCH_PROFILE names a directory;
 * otherwise just runs it. `requests` of the result, when given, sets the
 * per-request figure of the summary.
 */
export async function profiled<T>(name: string, fn: () => Promise<T>, say: (line: string) => void): Promise<T> {
  const dir = process.env.BENCH_PROFILE;
  if (!dir) return fn();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  let result: T;
  try {
    result = await fn();
  } finally {
    const { profile } = (await session.post('Profiler.stop')) as { profile: CpuProfile };
    session.disconnect();
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${name.replace(/[^\w.-]+/g, '-')}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    const requests = (result! as { requests?: number } | undefined)?.requests;
    say(`\n${name}: ${file}\n${summarize(profile, requests)}`);
  }
  return result;
}
