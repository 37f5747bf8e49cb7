import type { z } from 'zod';
import {
  ErrorBodySchema,
  EventsPageSchema,
  ScheduleAckSchema,
  StatusSchema,
  type ScheduleAck,
  type EventsPage,
  type LoadPlaylist,
  type Status,
  type UpdatePlaylist,
} from '../protocol/sidecar-api.ts';
import type { Schedule } from '../schedule/model.ts';
import { ErrorCode, OnairError } from '../errors.ts';
import { JsonHttpClient, RequestTimeoutError, type JsonResponse } from './http-json.ts';

/** Where a running sidecar answers, and the secret its API wants. */
export interface SidecarTarget {
  url: string;
  secret: string;
}

export type TransportCommand = 'pause' | 'resume' | 'skip' | 'stop';

/**
 * The control plane's side of the sidecar API (src/protocol). Every call is
 * bounded: a sidecar that does not answer within `timeoutMs` is
 * SIDECAR_UNAVAILABLE, never a hung request. The sidecar's own refusals come
 * back as the contract's codes (409 → CONFLICT).
 */
export class SidecarClient {
  /** Kept-alive connections to the sidecars (see JsonHttpClient). */
  private readonly http = new JsonHttpClient();

  /** @param timeoutMs longest wait for an answer. @defaultValue 2000 */
  constructor(private readonly timeoutMs = 2000) {}

  /**
   * GET /healthz, bounded by `timeoutMs`: whether the sidecar's process
   * answers at all (a hung one, SIGSTOPped or wedged, does not), however long
   * a poll of its event log may wait.
   */
  async ping(target: SidecarTarget, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    try {
      const res = await this.http.request(`${target.url}/healthz`, {
        method: 'GET',
        headers: { authorization: `Bearer ${target.secret}` },
        timeoutMs,
        signal,
      });
      return res.status === 200;
    } catch {
      return false;
    }
  }

  status(target: SidecarTarget): Promise<Status> {
    return this.call(target, 'GET', '/status', undefined, StatusSchema);
  }

  load(target: SidecarTarget, playlist: LoadPlaylist): Promise<Status> {
    return this.call(target, 'POST', '/playlist', playlist, StatusSchema);
  }

  /**
   * PUT /playlist: an edit of the playlist on air. Resolves 'stale' when the
   * sidecar already has a newer version of the playlist (nothing to do).
   */
  async update(target: SidecarTarget, edit: UpdatePlaylist): Promise<Status | 'stale'> {
    try {
      return await this.call(target, 'PUT', '/playlist', edit, StatusSchema);
    } catch (err) {
      if (err instanceof StaleEdit) return 'stale';
      throw err;
    }
  }

  /**
   * PUT /schedule: the channel's schedule. Resolves the version the sidecar
   * now runs, or 'stale' when it already runs a newer one (nothing to do).
   */
  async putSchedule(target: SidecarTarget, schedule: Schedule): Promise<ScheduleAck | 'stale'> {
    try {
      return await this.call(target, 'PUT', '/schedule', schedule, ScheduleAckSchema);
    } catch (err) {
      if (err instanceof StaleEdit) return 'stale';
      throw err;
    }
  }

  /** DELETE /schedule: the channel goes back to manual operation. */
  deleteSchedule(target: SidecarTarget): Promise<Status> {
    return this.call(target, 'DELETE', '/schedule', undefined, StatusSchema);
  }

  /** POST /schedule/take: a MANUAL event that holds goes to air now (409 → CONFLICT otherwise). */
  takeScheduleEvent(target: SidecarTarget, eventId: string): Promise<Status> {
    return this.call(target, 'POST', '/schedule/take', { eventId }, StatusSchema);
  }

  /** POST /schedule/resume: the schedule takes the channel back from manual play. */
  resumeSchedule(target: SidecarTarget): Promise<Status> {
    return this.call(target, 'POST', '/schedule/resume', undefined, StatusSchema);
  }

  transport(target: SidecarTarget, command: TransportCommand): Promise<Status> {
    return this.call(target, 'POST', `/transport/${command}`, undefined, StatusSchema);
  }

  /**
   * One long poll of the event log: the events after `after`, answered at the
   * next event or after `waitMs`; bounded by `waitMs` plus the usual timeout.
   * `signal` abandons it (a reader that stops).
   */
  events(target: SidecarTarget, after: number, waitMs: number, signal?: AbortSignal): Promise<EventsPage> {
    return this.call(target, 'GET', `/events?after=${after}&waitMs=${waitMs}`, undefined, EventsPageSchema, {
      timeoutMs: waitMs + this.timeoutMs,
      signal,
    });
  }

  private async call<T>(
    target: SidecarTarget,
    method: string,
    path: string,
    body: unknown,
    schema: z.ZodType<T>,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    let res: JsonResponse;
    try {
      res = await this.http.request(`${target.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${target.secret}` },
        body,
        timeoutMs,
        signal: options.signal,
      });
    } catch (err) {
      const timedOut = err instanceof RequestTimeoutError;
      throw new OnairError(
        ErrorCode.SIDECAR_UNAVAILABLE,
        timedOut
          ? `the channel's playout engine did not answer within ${timeoutMs} ms`
          : "the channel's playout engine cannot be reached",
      );
    }
    const json = res.body;
    const ok = res.status >= 200 && res.status < 300;
    if (ok) {
      const parsed = schema.safeParse(json);
      if (parsed.success) return parsed.data;
      throw new OnairError(
        ErrorCode.SIDECAR_UNAVAILABLE,
        "the channel's playout engine answered something this version does not understand",
      );
    }
    const error = ErrorBodySchema.safeParse(json);
    const message = error.success ? error.data.error.message : `HTTP ${res.status}`;
    if (res.status === 409 && error.success && error.data.error.code === 'STALE') throw new StaleEdit(message);
    if (res.status === 409) {
      const body = error.success ? error.data.error : null;
      throw new OnairError(ErrorCode.CONFLICT, message, {
        ...(body?.items && { items: body.items }),
        ...(body?.eventId && { eventId: body.eventId }),
      });
    }
    throw new OnairError(ErrorCode.SIDECAR_UNAVAILABLE, `the channel's playout engine refused: ${message}`);
  }
}

/** A sidecar's 409 STALE: it has a newer version of the playlist than the one sent. */
class StaleEdit extends Error {}
