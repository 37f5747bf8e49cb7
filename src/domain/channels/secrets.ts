import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Db, Prisma } from '../../services/db.ts';

/** The write-only part of a channel's output (see ChannelSecret in the data model). */
export interface OutputSecret {
  /** RTMP stream key. */
  streamKey?: string;
  /** SRT passphrase. */
  passphrase?: string;
}

const secretSchema = z.object({ streamKey: z.string().optional(), passphrase: z.string().optional() }).strict();

const VERSION = 'v1';
const IV_BYTES = 12; // GCM's native nonce size
const TAG_BYTES = 16;

/**
 * AES-256-GCM with a random IV. `context` (the channel id, and what the secret
 * is for) is bound in as associated data, so a ciphertext copied onto another
 * row or purpose does not decrypt. Format: `v1.<iv>.<tag>.<ciphertext>`, each base64url.
 */
export function seal(key: Buffer, context: string, plaintext: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [VERSION, iv, cipher.getAuthTag(), body]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
    .join('.');
}

/** Throws when the ciphertext was altered, or belongs to another context or key. */
export function unseal(key: Buffer, context: string, ciphertext: string): string {
  const [version, iv, tag, body] = ciphertext.split('.');
  if (version !== VERSION || iv === undefined || tag === undefined || body === undefined) {
    throw new Error('unknown secret format');
  }
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(context, 'utf8'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
}

/** A channel's output secret, bound to the channel. */
export function encryptSecret(key: Buffer, channelId: string, secret: OutputSecret): string {
  return seal(key, channelId, JSON.stringify(secret));
}

export function decryptSecret(key: Buffer, channelId: string, ciphertext: string): OutputSecret {
  return secretSchema.parse(JSON.parse(unseal(key, channelId, ciphertext)));
}

function isEmpty(secret: OutputSecret | null): boolean {
  return !secret || (secret.streamKey === undefined && secret.passphrase === undefined);
}

/** Stores (or, for an empty secret, removes) a channel's secret; run it inside the channel's transaction. */
export async function writeChannelSecret(
  tx: Prisma.TransactionClient,
  key: Buffer,
  channelId: string,
  secret: OutputSecret | null,
): Promise<void> {
  if (isEmpty(secret)) {
    await tx.channelSecret.deleteMany({ where: { channelId } });
    return;
  }
  const ciphertext = encryptSecret(key, channelId, secret as OutputSecret);
  await tx.channelSecret.upsert({ where: { channelId }, create: { channelId, ciphertext }, update: { ciphertext } });
}

/**
 * The secret to hand to a channel's playout engine when it starts; null when
 * none is set. For the orchestrator only: no GraphQL resolver may call this.
 */
export async function readChannelSecret(
  db: Db | Prisma.TransactionClient,
  key: Buffer,
  channelId: string,
): Promise<OutputSecret | null> {
  const row = await db.channelSecret.findUnique({ where: { channelId } });
  return row ? decryptSecret(key, channelId, row.ciphertext) : null;
}
