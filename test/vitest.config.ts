import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // graphql has no "exports": Node (and so every dependency, such as Pothos) loads its CommonJS
    // build, while Vite would pick its "module" build for our files. Two copies of graphql fail with
    // "Cannot use GraphQLObjectType … from another module or realm"; use Node's choice everywhere.
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    // Paths below are relative to the repository, wherever vitest is started from.
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: true,
  },
});
