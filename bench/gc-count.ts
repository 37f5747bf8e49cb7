import { constants, PerformanceObserver } from 'node:perf_hooks';

/** The garbage collections of this process while something ran: counts and pause time, ms. */
export interface GcCounts {
  scavenges: number;
  markCompacts: number;
  scavengeMs: number;
  markCompactMs: number;
}

/**
 * Counts this process's collections from now until stop() (a `PerformanceObserver` on `gc`;
 * its entries arrive on a later tick, so stop() waits a moment for the last ones).
 */
export function countGcs(onMarkCompact?: () => void): { counts: GcCounts; stop(): Promise<GcCounts> } {
  const counts: GcCounts = { scavenges: 0, markCompacts: 0, scavengeMs: 0, markCompactMs: 0 };
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { detail: { kind: number } }).detail.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
        counts.scavenges++;
        counts.scavengeMs += e.duration;
      } else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        counts.markCompacts++;
        counts.markCompactMs += e.duration;
        onMarkCompact?.();
      }
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    counts,
    async stop() {
      await new Promise((resolve) => setTimeout(resolve, 20));
      observer.disconnect();
      return { ...counts };
    },
  };
}
