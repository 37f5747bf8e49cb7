import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Text for a child process that must be neither in its command line (every
 * local user reads /proc/<pid>/cmdline) nor in its environment: written to a
 * 0600 file in a private 0700 folder, opened, and both removed before the child
 * starts. What is left is the open descriptor, which the child inherits and
 * reads as /dev/fd/<n> (Linux reopens a deleted file through it). A node
 * 'pipe' cannot serve: it is a socket, which /dev/fd/<n> cannot open.
 *
 * Returns the descriptor; the caller closes it once the child is spawned.
 */
export function openUnlinked(text: string): number {
  const dir = mkdtempSync(join(tmpdir(), 'onair-'));
  try {
    const file = join(dir, 'options');
    writeFileSync(file, text, { mode: 0o600 });
    return openSync(file, 'r');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs `spawn` with the text's descriptor, closing it in this process whatever happens. */
export function withUnlinked<T>(text: string | null, spawn: (fd: number | null) => T): T {
  const fd = text === null ? null : openUnlinked(text);
  try {
    return spawn(fd);
  } finally {
    if (fd !== null) closeSync(fd);
  }
}
