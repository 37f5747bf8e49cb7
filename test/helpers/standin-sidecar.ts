import type { LifecycleDeps } from '../../src/domain/channels/channel-lifecycle.ts';
import type { Services } from '../../src/services/index.ts';
import { LocalOrchestrator } from '../../src/services/orchestrator/local.ts';
import { sidecarPortBase } from './fixtures.ts';

/**
 * For stand-in sidecars (tiny `node -e` programs): `health(req, res)` answers
 * GET /healthz as a real sidecar does, with the proof of SIDECAR_SECRET when
 * asked with ?nonce= (src/protocol/sidecar-env.ts), and "ok" without it;
 * `listen(server)` listens on $HOST:$PORT and exits 3 when the port is held,
 * as src/sidecar/main.ts does. CommonJS, for `node -e`.
 */
export const STANDIN_HEALTH = `
  function health(req, res) {
    const u = new URL(req.url, 'http://sidecar');
    if (u.pathname !== '/healthz') return false;
    const nonce = u.searchParams.get('nonce');
    if (!nonce) { res.end('ok'); return true; }
    const proof = require('node:crypto').createHmac('sha256', process.env.SIDECAR_SECRET)
      .update('onair-sidecar-health:' + process.env.CHANNEL_ID + ':' + nonce).digest('hex');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ok: true, channelId: process.env.CHANNEL_ID, proof }));
    return true;
  }
  function listen(server) {
    server.on('error', (e) => process.exit(e.code === 'EADDRINUSE' ? 3 : 1));
    server.listen(Number(process.env.PORT), process.env.HOST);
  }
`;

/**
 * What startChannelSidecar needs, from a test server's services, with local
 * stand-in sidecars running `program` (`node -e`) in place of real ones.
 */
export function standinLifecycle(
  services: Services,
  program: string,
): { deps: LifecycleDeps; orchestrator: LocalOrchestrator } {
  const orchestrator = new LocalOrchestrator({
    command: [process.execPath, '-e', program],
    healthPath: '/healthz',
    output: 'ignore',
    stopTimeoutMs: 1000,
  });
  const { config } = services;
  const deps: LifecycleDeps = {
    db: services.db,
    log: services.log,
    pubsub: services.pubsub,
    redis: services.redis,
    orchestrator,
    config: {
      secretKey: config.secretKey,
      queuePrefix: config.queuePrefix,
      mediaVolumeDir: '/tmp',
      sidecar: { engine: 'ffmpeg', portBase: sidecarPortBase(20), portCount: 20, timeoutMs: 2000 },
      outputs: config.outputs,
      quotas: config.quotas,
    },
  };
  return { deps, orchestrator };
}
