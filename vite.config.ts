import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { mergeConfig } from 'vite';
import { defineConfig } from 'vitest/config';
import { browserSimplePeer } from './client/src/net/shims/browserBuild.ts';
import pkg from './package.json' with { type: 'json' };

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const ATTACKS = 'signaling/src/attack.test.ts';

/** `vite build --mode lib` (npm run build:lib): the library's entries, with every dependency left external. */
const deps = Object.keys(pkg.dependencies);
const external = (id: string) =>
  id.startsWith('node:') ||
  builtinModules.includes(id) ||
  deps.some((d) => id === d || id.startsWith(`${d}/`)) ||
  id === 'react/jsx-runtime';

const config = defineConfig(({ mode }) => ({
  root: here('./client'),
  publicDir: mode === 'lib' ? false : here('./public'),
  plugins: [react()],
  // Source maps only when asked for (SOURCE_MAPS=1 npm run build): a production server publishes no sources.
  build:
    mode === 'lib'
      ? {
          outDir: here('./dist/lib'),
          emptyOutDir: true,
          target: 'es2022',
          minify: false,
          lib: {
            entry: {
              index: here('./client/src/lockstep/index.ts'),
              react: here('./client/src/lockstep/react.tsx'),
              server: here('./signaling/src/public.ts'),
            },
            formats: ['es'],
          },
          rollupOptions: {
            external,
            // The published lib's consumers bundle it with their own config, without our shims: it keeps importing
            // the self-contained prebuilt bundle rather than simple-peer's source (see client/src/net/shims).
            output: { paths: { 'simple-peer': 'simple-peer/simplepeer.min.js' } },
          },
        }
      : { outDir: here('./dist/client'), emptyOutDir: true, sourcemap: process.env.SOURCE_MAPS === '1' },
  server: { port: 5173 },
  test: {
    root: here('.'),
    testTimeout: 60_000,
    // Vitest's default is one worker fewer than the cores: one, on the 2-core machines this runs on, which left
    // the second core idle through the simulator's sweeps.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: [
            'client/**/*.test.ts',
            'signaling/**/*.test.ts',
            'e2e/nemesis/*.test.ts',
            'examples/*/src/*.test.ts',
          ],
          exclude: [ATTACKS],
        },
      },
      // The attacks time /healthz (within 100 ms), so they run after the rest, not beside the simulator.
      { extends: true, test: { name: 'attack', include: [ATTACKS], sequence: { groupOrder: 1 } } },
    ],
  },
}));

// The app's browser build (and `npm run dev`) bundles simple-peer from source; the lib leaves it external and
// Vitest runs it as Node's CJS package.
export default defineConfig((env) =>
  env.mode === 'lib' || env.mode === 'test' ? config(env) : mergeConfig(browserSimplePeer, config(env)),
);
