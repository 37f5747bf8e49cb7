import { readFileSync } from 'node:fs';

// Where a scenario's CPU went, read from Linux's /proc: the whole machine's
// busy time (every core: the server, the clients, PostgreSQL, the kernel) and
// that of this process's main thread (the server's event loop). Per request,
// the first tells what the machine can serve at most, the second what the
// server's one thread can.

/** USER_HZ: the unit of /proc's CPU times (100 on every Linux this runs on). */
const TICK_MS = 10;

export interface CpuTimes {
  /** Busy time of all cores together (user, system, interrupts), ms. */
  machineBusyMs: number;
  /** Time the hypervisor gave to others while this machine wanted to run, ms. */
  stealMs: number;
  /** CPU time of this process's main thread, ms. */
  mainThreadMs: number;
}

export function cpuTimes(): CpuTimes | null {
  try {
    // cpu  user nice system idle iowait irq softirq steal guest guest_nice
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = fields;
    // The thread's own stat: utime and stime are the 14th and 15th fields; the name (2nd) may hold spaces.
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      machineBusyMs: (user + nice + system + irq + softirq) * TICK_MS,
      stealMs: steal * TICK_MS,
      mainThreadMs: (Number(after[11]) + Number(after[12])) * TICK_MS,
    };
  } catch {
    return null;
  }
}

/** CPU per request between two readings, ms; null off Linux. */
export function cpuPerRequest(before: CpuTimes | null, after: CpuTimes | null, requests: number): CpuTimes | null {
  if (!before || !after || requests === 0) return null;
  return {
    machineBusyMs: (after.machineBusyMs - before.machineBusyMs) / requests,
    stealMs: (after.stealMs - before.stealMs) / requests,
    mainThreadMs: (after.mainThreadMs - before.mainThreadMs) / requests,
  };
}
