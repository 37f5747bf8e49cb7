import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { ScheduleSchema } from '../../schedule/model.ts';

/** What a restart needs: the schedule and the takes of its MANUAL events (event id → instant taken). */
export const KeptScheduleSchema = z.object({
  schedule: ScheduleSchema,
  taken: z.record(z.string(), z.number().int()),
  /** Events skipped on air (event id → instant cut); absent from files written before skips. */
  skipped: z.record(z.string(), z.number().int()).optional(),
});
export type KeptSchedule = z.infer<typeof KeptScheduleSchema>;

/**
 * The schedule the sidecar runs, kept on its volume, so that a sidecar
 * restarted (a crash, a host reboot) joins the schedule in progress on its own,
 * even while the control plane cannot reach it. A file that is missing or does
 * not parse is no schedule: the control plane sends it again.
 */
export class ScheduleStore {
  constructor(private readonly file: string | null) {}

  async load(): Promise<KeptSchedule | null> {
    if (!this.file) return null;
    try {
      const parsed = KeptScheduleSchema.safeParse(JSON.parse(await readFile(this.file, 'utf8')));
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  /** Written aside and renamed over, so a crash mid-write leaves the previous version whole. */
  async save(kept: KeptSchedule | null): Promise<void> {
    if (!this.file) return;
    if (kept === null) {
      await rm(this.file, { force: true });
      return;
    }
    await mkdir(dirname(this.file), { recursive: true });
    const aside = `${this.file}.${process.pid}.tmp`;
    await writeFile(aside, JSON.stringify(kept));
    await rename(aside, this.file);
  }
}
