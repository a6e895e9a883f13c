// `npm run dev`: the signaling server and the app with Vite HMR on one port.

import { fileURLToPath } from 'node:url';
import { createServer as createVite } from 'vite';
import { main } from './index.ts';

const configFile = fileURLToPath(new URL('../../vite.config.ts', import.meta.url));

await main({
  frontend: async (httpServer) => {
    const vite = await createVite({
      configFile,
      appType: 'spa',
      server: { middlewareMode: true, ws: { server: httpServer } },
    });
    return { middleware: vite.middlewares, close: () => vite.close() };
  },
});
