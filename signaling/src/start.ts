// `npm start`: rebuild the client when its sources are newer than dist/client, then run the server.

import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const builtIndex = path.join(repoRoot, 'dist/client/index.html');
const clientInputs = ['client', 'public', 'vite.config.ts', 'package.json', 'tsconfig.json'].map((entry) =>
  path.join(repoRoot, entry),
);

function newestMtime(entry: string): number {
  let info: ReturnType<typeof statSync>;
  try {
    info = statSync(entry);
  } catch {
    return 0;
  }
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const child of readdirSync(entry)) {
    if (child === 'node_modules' || child.startsWith('.')) continue;
    newest = Math.max(newest, newestMtime(path.join(entry, child)));
  }
  return newest;
}

function builtAt(): number | undefined {
  try {
    return statSync(builtIndex).mtimeMs;
  } catch {
    return undefined;
  }
}

const built = builtAt();
const sources = Math.max(...clientInputs.map(newestMtime));
if (built === undefined || built < sources) {
  console.log(
    built === undefined ? 'client not built yet: building…' : 'client sources changed: rebuilding…',
  );
  try {
    execFileSync('npx', ['vite', 'build'], { cwd: repoRoot, stdio: 'inherit' });
  } catch {
    console.error('client build failed (see the vite output above); not starting the server');
    process.exit(1);
  }
}

const { main } = await import('./index.ts');
await main();
