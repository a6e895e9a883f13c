// npm run build:lib, last step: the emitted declarations import `./x.ts` as the sources do; consumers'
// TypeScript resolves `./x.js` to `./x.d.ts`, so the specifiers are rewritten.

import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const root = process.argv[2] ?? 'dist/lib/types';
const files = (await readdir(root, { recursive: true })).filter((f) => f.endsWith('.d.ts'));
for (const f of files) {
  const path = join(root, f);
  const text = await readFile(path, 'utf8');
  await writeFile(path, text.replace(/(['"])(\.{1,2}\/[^'"]+)\.tsx?\1/g, '$1$2.js$1'));
}
console.log(`rewrote import specifiers in ${files.length} declaration files under ${root}`);
