// The store the configuration names. Apart from store.ts (the interface, its
// errors and key rules), which the stores import: a value import cycle otherwise.
import { createLocalStore } from './local-store.ts';
import { createS3Store, type S3StoreConfig } from './s3-store.ts';
import type { MediaStore } from './store.ts';

export type MediaStoreConfig =
  | {
      kind: 'local';
      /** Directory holding the media; keys are paths relative to it. */
      root: string;
    }
  | ({ kind: 's3' } & S3StoreConfig);

/** Builds the store the configuration names; callers own it and close it. */
export function createMediaStore(config: MediaStoreConfig): MediaStore {
  switch (config.kind) {
    case 'local':
      return createLocalStore({ root: config.root });
    case 's3': {
      const { kind: _kind, ...s3 } = config;
      return createS3Store(s3);
    }
    default: {
      const never: never = config;
      throw new Error(`unknown media store kind: ${(never as { kind: string }).kind}`);
    }
  }
}
