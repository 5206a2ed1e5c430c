import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

// Tests run against the libraries' TypeScript sources, never their build output.
const libAliases = Object.fromEntries(
  readdirSync(`${root}libs`).map((lib) => [`@hookpost/${lib}`, `${root}libs/${lib}/src/index.ts`]),
);

// SWC instead of Vite's default transform: NestJS needs decorator metadata.
const plugins = [
  swc.vite({ jsc: { target: 'es2022', transform: { useDefineForClassFields: false } } }),
];

export default defineConfig({
  plugins,
  resolve: { alias: libAliases },
  test: {
    projects: [
      {
        test: { name: 'unit', include: ['{apps,libs,tools}/**/*.spec.ts'], environment: 'node' },
      },
      {
        test: {
          name: 'integration',
          include: ['{apps,libs}/**/*.int-spec.ts', 'apps/e2e/src/**/*.e2e-spec.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // Tests share one broker and one database; run files one at a time.
          fileParallelism: false,
          // Tests talk to Kafka with kafkajs of their own too: the same fix as the services
          // (without it every connection wakes the test process a thousand times a second).
          setupFiles: ['libs/platform/src/kafka/kafkajs-fixes.ts'],
        },
      },
    ],
  },
});
