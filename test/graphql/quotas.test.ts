import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startChannelSidecar,
  stopChannelSidecar,
  type LifecycleDeps,
} from '../../src/domain/channels/channel-lifecycle.ts';
import type { LocalOrchestrator } from '../../src/services/orchestrator/local.ts';
import { insertChannel } from '../helpers/fixtures.ts';
import { useTestServer } from '../helpers/server.ts';
import { STANDIN_HEALTH, standinLifecycle } from '../helpers/standin-sidecar.ts';

// Per-project quotas on what an editor may make the installation hold.

const CREATE = `mutation($input: CreateAssetInput!) { createAsset(input: $input) { id } }`;
// A stand-in sidecar that proves itself on /healthz as a sidecar does.
const HEALTHY = `
  ${STANDIN_HEALTH}
  listen(require('node:http').createServer((q, s) => health(q, s) || s.end('{}')));
`;

const { server, cast } = useTestServer({ QUOTA_PROJECT_ASSETS: '3', QUOTA_PROJECT_RUNNING_CHANNELS: '1' });
let local: LocalOrchestrator;
let deps: LifecycleDeps;

beforeAll(async () => {
  ({ deps, orchestrator: local } = standinLifecycle(server.services, HEALTHY));
});
afterAll(async () => {
  await local?.close();
});

const asset = (projectId: string, token = cast.admin.token) =>
  server.gql(token, CREATE, { input: { projectId, filename: 'a.mxf', storageKey: 'a.mxf' } });

describe('QUOTA_PROJECT_ASSETS', () => {
  it('the asset past the quota is CONFLICT, says which quota, and creates nothing', async () => {
    for (let i = 0; i < 3; i++) expect((await asset(cast.home.id, cast.editor.token)).errors).toBeUndefined();
    const refused = await asset(cast.home.id, cast.editor.token);
    expect(refused.errors?.[0]).toMatchObject({
      message: "the project's quota of 3 assets is reached (QUOTA_PROJECT_ASSETS)",
      extensions: { code: 'CONFLICT', quota: 'QUOTA_PROJECT_ASSETS', limit: 3 },
    });
    expect(await server.services.db.asset.count({ where: { projectId: cast.home.id } })).toBe(3);
    // Other projects have their own.
    expect((await asset(cast.other.id, cast.outsider.token)).errors).toBeUndefined();
  });

  it('ten concurrent creations in an empty project: exactly three', async () => {
    const project = await server.services.db.project.create({ data: { name: `race-${Date.now()}` } });
    const results = await Promise.all(Array.from({ length: 10 }, () => asset(project.id)));
    expect(results.filter((r) => !r.errors)).toHaveLength(3);
    expect(results.filter((r) => r.errors?.[0]?.extensions?.code === 'CONFLICT')).toHaveLength(7);
    expect(await server.services.db.asset.count({ where: { projectId: project.id } })).toBe(3);
  });
});

describe('QUOTA_PROJECT_RUNNING_CHANNELS', () => {
  it('a start past the quota is CONFLICT and leaves the channel STOPPED with no sidecar; a stop frees the place', async () => {
    const project = await server.services.db.project.create({ data: { name: `running-${Date.now()}` } });
    const [a, b] = [await insertChannel(server.services, project.id), await insertChannel(server.services, project.id)];
    // Two at once: one starts, the other is refused.
    const results = await Promise.allSettled([startChannelSidecar(deps, a.id), startChannelSidecar(deps, b.id)]);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(refused.reason).toMatchObject({
      message: "the project's quota of 1 running channels is reached: stop one first (QUOTA_PROJECT_RUNNING_CHANNELS)",
      extensions: { code: 'CONFLICT', quota: 'QUOTA_PROJECT_RUNNING_CHANNELS', limit: 1 },
    });
    const rows = await server.services.db.channel.findMany({
      where: { projectId: project.id },
      orderBy: { status: 'asc' },
    });
    const running = rows.find((r) => r.status === 'RUNNING')!;
    const stopped = rows.find((r) => r.id !== running.id)!;
    expect(stopped).toMatchObject({ status: 'STOPPED', errorMessage: null, sidecarPort: null, sidecarRef: null });
    expect((await local.list(null)).filter((s) => s.channelId === stopped.id)).toEqual([]);

    // Another project is not held back by this one.
    const elsewhere = await insertChannel(server.services, cast.other.id);
    await expect(startChannelSidecar(deps, elsewhere.id)).resolves.toMatchObject({ status: 'RUNNING' });

    await stopChannelSidecar(deps, running.id);
    await expect(startChannelSidecar(deps, stopped.id)).resolves.toMatchObject({ status: 'RUNNING' });
    await stopChannelSidecar(deps, stopped.id);
    await stopChannelSidecar(deps, elsewhere.id);
  });
});
