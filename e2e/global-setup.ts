import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Builds the client once; every test's server serves dist/client. */
export default function globalSetup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  execFileSync(
    process.execPath,
    [
      fileURLToPath(new URL('../node_modules/vite/bin/vite.js', import.meta.url)),
      'build',
      '--logLevel',
      'warn',
    ],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
}
