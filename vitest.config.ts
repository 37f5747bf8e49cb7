import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

/**
 * `npm test` runs two passes. The main suite runs two files at a time; the
 * second pass runs one file at a time: the fault suite (test/faults/: CPU hogs,
 * receivers and services taken away), so that a fault injected on purpose does
 * not starve or break a neighbour's test, and the tests that hold playout to the
 * frame (a timed cut, a schedule's HARD events on both engines) or a failover to
 * the clock, whose claim is about a sidecar that has its core, not one sharing it
 * with a neighbour's encoders.
 */
const faults = process.env.ONAIR_TEST_SUITE === 'faults';
const APART = [
  'test/faults/**/*.test.ts',
  'test/sidecar/ffmpeg-timed-start.test.ts',
  // Stops the encoder and blocks the process for seconds, then counts the output's frames against the clock.
  'test/sidecar/ffmpeg-drift.test.ts',
  // Counts a transition's frames on the output, and skips 300 ms into one, timed against the clock.
  'test/sidecar/ffmpeg-mix.test.ts',
  'test/sidecar/casparcg/timed-start.test.ts',
  'test/sidecar/schedule/ffmpeg-schedule.test.ts',
  // A join whose first frames come late: the next segment's start is checked to the frame.
  'test/sidecar/schedule/ffmpeg-late-join.test.ts',
  'test/sidecar/schedule/casparcg-schedule.test.ts',
  'test/e2e/schedule-on-air.test.ts',
  // A skip half a second ahead and a press 400 ms before an event's end, timed against the clock.
  'test/e2e/schedule-skip.test.ts',
  // The same measured on the output: a receiver decoding every frame, timed against the clock.
  'test/e2e/schedule-output.test.ts',
  // A failover between two Docker nodes, timed against the clock: containers, an SRT receiver and two engines at once.
  'test/e2e/docker-image.test.ts',
];

export default defineConfig({
  // graphql 16 ships CommonJS and ESM builds; Node (and so yoga and Pothos)
  // loads the CommonJS one, so vite must too, or `instanceof GraphQLError` fails.
  resolve: { alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }] },
  test: {
    include: faults ? APART : ['test/**/*.test.ts'],
    exclude: faults ? [] : [...APART, '**/node_modules/**'],
    passWithNoTests: faults,
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    // expect.poll waits for a condition (a page showing what the API did): 1 s, its default, is less
    // than a round trip through onair takes on a loaded 2-core machine. Only a failure waits longer.
    expect: { poll: { timeout: 10_000 } },
    hookTimeout: 60_000,
    // Each file gets its own database cloned from a migrated template; two
    // workers match the two cores these machines have.
    pool: 'forks',
    maxWorkers: faults ? 1 : 2,
  },
});
