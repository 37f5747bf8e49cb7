import { describe, expect, it } from 'vitest';
import { SCHEDULE_GRACE_MS, ScheduleDelivery } from '../../src/domain/schedules/schedule-delivery.ts';
import type { SchedulePushDeps } from '../../src/domain/schedules/schedule-push.ts';
import type { SidecarTarget } from '../../src/services/sidecar-client.ts';
import { until } from '../helpers/until.ts';

// What the workers' sweep sends, against a database and sidecars that only
// answer: a version committed that the sidecar lacks is pushed once; one it
// runs (the committing process delivered it) costs a status read and no push;
// a sidecar that does not answer is tried again at the next sweep.
const CHANNEL = '00000000-0000-4000-8000-000000000001';
const target: SidecarTarget = { url: 'http://127.0.0.1:1', secret: 's' };

function rig(committed: { version: number; ageMs: number }) {
  const seen = { queries: 0, statusReads: 0, pushes: 0 };
  let running: number | null | 'silent' = null;
  const deps = {
    db: {
      $queryRaw: async () => {
        seen.queries++;
        return [{ channel_id: CHANNEL, version: committed.version, age_ms: committed.ageMs }];
      },
      // A push starts by reading the channel: that read is what is counted (none runs here, so nothing is sent).
      channel: {
        findFirst: async () => {
          seen.pushes++;
          return null;
        },
      },
      $queryRawUnsafe: async () => [],
    },
    sidecars: {
      status: async () => {
        seen.statusReads++;
        if (running === 'silent') throw new Error('no answer');
        return running === null ? {} : { schedule: { version: running } };
      },
    },
    log: { info: () => {}, warn: () => {}, child: () => ({ info: () => {}, warn: () => {} }) },
    pubsub: { publish: () => {} },
    config: { secretKey: 'k' },
  } as unknown as SchedulePushDeps;
  let read = new Map([[CHANNEL, target]]);
  const delivery = new ScheduleDelivery(deps, () => read);
  return {
    seen,
    delivery,
    runs: (v: number | null | 'silent') => void (running = v),
    readNothing: () => void (read = new Map()),
  };
}

describe('the schedule delivery sweep', () => {
  it('pushes a committed version the sidecar lacks, once', async () => {
    const { seen, delivery, runs } = rig({ version: 6, ageMs: 5000 });
    runs(5);
    await delivery.sweep();
    await until(() => seen.pushes === 1, 'the push');
    await delivery.sweep();
    await delivery.sweep();
    expect(seen).toEqual({ queries: 3, statusReads: 1, pushes: 1 });
  });

  it('leaves a version the sidecar already runs, and asks it no more', async () => {
    const { seen, delivery, runs } = rig({ version: 6, ageMs: 5000 });
    runs(6);
    await delivery.sweep();
    await until(() => seen.statusReads === 1, 'the status read');
    await delivery.sweep();
    expect(seen).toEqual({ queries: 2, statusReads: 1, pushes: 0 });
  });

  it('gives the committing process its grace, then delivers', async () => {
    const { seen, delivery, runs } = rig({ version: 6, ageMs: 0 });
    runs(5);
    const sweptAt = Date.now();
    await delivery.sweep();
    await until(() => seen.pushes === 1, 'the push');
    expect(Date.now() - sweptAt).toBeGreaterThanOrEqual(SCHEDULE_GRACE_MS - 5);
  });

  it('tries a sidecar that does not answer again at the next sweep', async () => {
    const { seen, delivery, runs } = rig({ version: 6, ageMs: 5000 });
    runs('silent');
    await delivery.sweep();
    await until(() => seen.statusReads === 1, 'the status read');
    expect(seen.pushes).toBe(0);
    runs(5);
    await until(async () => {
      await delivery.sweep();
      return seen.pushes === 1;
    }, 'the push once it answers');
  });

  it('queries nothing while the process reads no channel', async () => {
    const { seen, delivery, readNothing } = rig({ version: 6, ageMs: 5000 });
    readNothing();
    await delivery.sweep();
    expect(seen.queries).toBe(0);
  });
});
