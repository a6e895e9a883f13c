import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { bundleServer, SERVER_BUNDLE_ENV } from './kit.ts';

/** Builds the client once (every test's server serves dist/client) and, beside it, the server in one file. */
export default async function globalSetup(): Promise<void> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const client = promisify(execFile)(
    process.execPath,
    [
      fileURLToPath(new URL('../node_modules/vite/bin/vite.js', import.meta.url)),
      'build',
      '--logLevel',
      'warn',
    ],
    { cwd: root },
  );
  // Workers inherit the environment global setup leaves.
  process.env[SERVER_BUNDLE_ENV] = await bundleServer(`${root}dist/e2e-server`);
  const { stderr } = await client;
  if (stderr) process.stderr.write(stderr);
}
