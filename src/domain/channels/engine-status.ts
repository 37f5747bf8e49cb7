import type { ScheduleStatus, Status } from '../../protocol/sidecar-api.ts';
import type { Redis } from '../../services/redis.ts';

/** Live state of a channel's engine as the API answers it (EngineStatus). */
export interface EngineState {
  channelId: string;
  reachable: boolean;
  state: Status['state'] | null;
  playlistId: string | null;
  loop: boolean | null;
  current: { itemId: string; clipName: string; startedAt: Date; positionMs: number; durationMs: number | null } | null;
  nextItemId: string | null;
  /** The schedule the sidecar runs (absent or null: none, the channel is manual). */
  schedule?: ScheduleStatus | null;
  updatedAt: Date;
}

/** EngineState from a sidecar's status answer; null: the sidecar did not answer. */
export function engineState(channelId: string, status: Status | null, now = new Date()): EngineState {
  const current = status?.current?.startedAt ? status.current : null;
  return {
    channelId,
    reachable: status !== null,
    state: status?.state ?? null,
    playlistId: status?.playlistId ?? null,
    loop: status ? status.loop : null,
    current: current
      ? {
          itemId: current.itemId,
          clipName: current.clipName,
          startedAt: new Date(current.startedAt as string),
          positionMs: current.positionMs,
          durationMs: current.durationMs,
        }
      : null,
    nextItemId: status?.next?.itemId ?? null,
    schedule: status?.schedule ?? null,
    updatedAt: now,
  };
}

/** The last known state kept, marked unreachable (a sidecar that stopped answering). */
export function unreachable(last: EngineState | null, channelId: string, now = new Date()): EngineState {
  return last ? { ...last, reachable: false, updatedAt: now } : { ...engineState(channelId, null, now) };
}

/**
 * The state a snapshot taken at `state.updatedAt` implies now: a playing
 * item's position moves on with the clock (up to its duration).
 */
export function asOf(state: EngineState, now = new Date()): EngineState {
  if (!state.current || state.state !== 'PLAYING' || !state.reachable) return state;
  const elapsed = Math.max(0, now.getTime() - state.updatedAt.getTime());
  const positionMs = state.current.positionMs + elapsed;
  const capped = state.current.durationMs === null ? positionMs : Math.min(positionMs, state.current.durationMs);
  return { ...state, current: { ...state.current, positionMs: capped } };
}

/** EngineState as JSON carries it (Redis pub/sub, the snapshot key): dates as ISO strings. */
export type EngineStateWire = Omit<EngineState, 'current' | 'updatedAt'> & {
  current: (Omit<NonNullable<EngineState['current']>, 'startedAt'> & { startedAt: string }) | null;
  updatedAt: string;
};

export function toWire(state: EngineState): EngineStateWire {
  return {
    ...state,
    current: state.current ? { ...state.current, startedAt: state.current.startedAt.toISOString() } : null,
    updatedAt: state.updatedAt.toISOString(),
  };
}

export function fromWire(wire: EngineStateWire): EngineState {
  return {
    ...wire,
    current: wire.current ? { ...wire.current, startedAt: new Date(wire.current.startedAt) } : null,
    updatedAt: new Date(wire.updatedAt),
  };
}

/**
 * The latest EngineState of each channel, kept in Redis by whoever publishes
 * it (the worker reading the sidecar's events), so that a new subscriber's
 * first message costs no request to the sidecar.
 */
export class EngineSnapshots {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(channelId: string) {
    return `${this.prefix}:engine:${channelId}`;
  }

  async save(state: EngineState): Promise<void> {
    // Outlives a dead worker by a day at most; a stopped channel's is deleted.
    await this.redis.set(this.key(state.channelId), JSON.stringify(toWire(state)), 'EX', 86_400);
  }

  async load(channelId: string): Promise<EngineState | null> {
    const raw = await this.redis.get(this.key(channelId));
    return raw ? fromWire(JSON.parse(raw) as EngineStateWire) : null;
  }

  async remove(channelId: string): Promise<void> {
    await this.redis.del(this.key(channelId));
  }
}
