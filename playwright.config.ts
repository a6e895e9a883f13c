import { defineConfig } from '@playwright/test';
import { chromiumArgs, chromiumExecutable } from './e2e/kit.ts';

/** Specs that assert how long the protocol takes (failover, away): nothing else runs beside them. */
const TIMED = ['**/failover.spec.ts', '**/away.spec.ts'];
const EXAMPLES = ['**/example.spec.ts', '**/example-game.spec.ts'];

export default defineConfig({
  testDir: './e2e',
  // e2e/nemesis is end-to-end but not Playwright (npm run test:nemesis); its unit tests run in vitest.
  testIgnore: ['nemesis/**'],
  globalSetup: './e2e/global-setup.ts',
  // Two test files at a time: most tests wait on the protocol's timeouts, not the cores (28 tests: 4.5 min
  // with one worker, 2.9 min with two, the box 13 % idle). Those that time the protocol run after the rest,
  // one at a time (project "timed").
  workers: 2,
  fullyParallel: false,
  projects: [
    // Both build the library with `npm pack` into this checkout's dist/lib: never at once. Listed first, so one
    // worker starts on them (about 40 s, mostly builds) beside the main tests, rather than alone at the end.
    { name: 'examples', testMatch: EXAMPLES, workers: 1 },
    { name: 'main', testIgnore: ['nemesis/**', ...TIMED, ...EXAMPLES] },
    { name: 'timed', testMatch: TIMED, workers: 1, dependencies: ['main', 'examples'] },
  ],
  timeout: 90_000,
  expect: { timeout: 15_000 },
  retries: 0,
  reporter: [['list'], ['html', { open: 'never', outputFolder: 'playwright-report' }]],
  outputDir: 'test-results',
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: { executablePath: chromiumExecutable, args: chromiumArgs },
    // One column: the visualizer and timeline sit below the fold and cost no paint. With Chromium compositing in
    // software, five 1280 × 900 tabs at rest kept both cores busy (16.5 CPU-s per 10 s); at 800 × 600, 7.6.
    // Every test ran slower for it. The a11y scans use the desktop size; the phone test sets its own.
    viewport: { width: 800, height: 600 },
    // No screencast in the trace: its frames cost more CPU than the tabs under test (basics, catchup and
    // failover: 112 s with it, 75 s without, 69 s with no trace). A failed test keeps its trace's DOM snapshots
    // and its screenshot.
    trace: { mode: 'retain-on-failure', screenshots: false, snapshots: true },
    screenshot: 'only-on-failure',
  },
});
