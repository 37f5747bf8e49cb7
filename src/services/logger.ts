import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs; secrets never reach them (see redact). */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'onair' },
    redact: {
      paths: ['req.headers.authorization', '*.token', '*.streamKey', '*.passphrase', '*.authorization'],
      censor: '[redacted]',
    },
  });
}
