import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { HEALTH_PROOF_ALGORITHM, HealthAnswerSchema, healthProofMessage } from '../../protocol/sidecar-env.ts';

/**
 * The control plane's side of the sidecar's health challenge: a fresh random
 * nonce per question, and the answer's HMAC checked with the spawn secret.
 * Nothing carrying the secret is sent to a listener that has not proven it
 * holds it: a program that took the port first learns neither the secret nor
 * the playlist.
 */

export type HealthVerdict =
  /** The sidecar spawned with this secret for this channel answered. */
  | { kind: 'PROVEN' }
  /** Nothing answers (yet): connection refused, timeout, not HTTP. */
  | { kind: 'SILENT'; why: string }
  /** Something answers on the port that is not this spawn's sidecar. */
  | { kind: 'IMPOSTOR'; why: string };

export function healthProof(secret: string, channelId: string, nonce: string): string {
  return createHmac(HEALTH_PROOF_ALGORITHM, secret).update(healthProofMessage(channelId, nonce)).digest('hex');
}

/** One question: GET <url>/healthz?nonce=…, bounded by timeoutMs. */
export async function challengeSidecar(
  url: string,
  channelId: string,
  secret: string,
  timeoutMs = 1000,
  healthPath = '/healthz',
): Promise<HealthVerdict> {
  const nonce = randomBytes(16).toString('hex');
  let status: number;
  let body: unknown;
  try {
    const res = await fetch(`${url}${healthPath}?nonce=${nonce}`, { signal: AbortSignal.timeout(timeoutMs) });
    status = res.status;
    body = await res.json().catch(() => undefined);
  } catch (err) {
    return {
      kind: 'SILENT',
      why: (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message,
    };
  }
  const answer = HealthAnswerSchema.safeParse(body);
  if (status !== 200 || !answer.success)
    return { kind: 'IMPOSTOR', why: `its /healthz answered HTTP ${status} without a sidecar's health answer` };
  if (answer.data.channelId !== channelId)
    return { kind: 'IMPOSTOR', why: `its /healthz names another channel (${answer.data.channelId})` };
  const expected = Buffer.from(healthProof(secret, channelId, nonce), 'hex');
  const given = Buffer.from(answer.data.proof ?? '', 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { kind: 'IMPOSTOR', why: 'its /healthz did not prove it holds the secret it was spawned with' };
  }
  return { kind: 'PROVEN' };
}

/**
 * Asks until the sidecar proves itself, `gone()` says it died, or `deadline`
 * (epoch ms) passes; returns the last verdict. An impostor's answer is not
 * final: the spawned sidecar may still be starting (it then fails to listen,
 * which `gone()` reports).
 */
export async function awaitProof(
  url: string,
  channelId: string,
  secret: string,
  options: { deadline: number; gone: () => Promise<boolean> | boolean; intervalMs?: number; path?: string },
): Promise<HealthVerdict> {
  let last: HealthVerdict = { kind: 'SILENT', why: 'never asked' };
  while (Date.now() < options.deadline) {
    last = await challengeSidecar(
      url,
      channelId,
      secret,
      Math.min(1000, Math.max(100, options.deadline - Date.now())),
      options.path,
    );
    if (last.kind === 'PROVEN') return last;
    if (await options.gone()) return last;
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100).unref());
  }
  return last;
}
