import type { Logger } from '../logger.ts';
import { DockerOrchestrator, type DockerOrchestratorConfig } from './docker.ts';
import { LocalOrchestrator, type LocalOrchestratorConfig } from './local.ts';
import type { Orchestrator } from './orchestrator.ts';

export interface OrchestratorConfig {
  /**
   * Which sidecars: containers on the nodes' Docker engines, or child
   * processes of this process (one machine without Docker).
   * @defaultValue docker when `docker` is given, else local
   */
  kind?: 'docker' | 'local';
  docker?: Omit<DockerOrchestratorConfig, 'logger'>;
  local?: Omit<LocalOrchestratorConfig, 'logger'>;
}

/** Builds the orchestrator the configuration names; no engine is contacted here. */
export function createOrchestrator(config: OrchestratorConfig, logger?: Logger): Orchestrator {
  const kind = config.kind ?? (config.docker ? 'docker' : 'local');
  if (kind === 'docker') {
    if (!config.docker?.image) throw new Error('the Docker orchestrator needs a sidecar image');
    return new DockerOrchestrator({ ...config.docker, logger: logger?.child({ component: 'orchestrator' }) });
  }
  return new LocalOrchestrator({ ...config.local, logger: logger?.child({ component: 'orchestrator' }) });
}
