import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['spec/**/*.spec.ts'],
    globalSetup: ['spec/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    poolOptions: {
      forks: {
        // the CI machine has 2 cores
        maxForks: 2,
        minForks: 1,
      },
    },
    fileParallelism: true,
    reporters: ['default'],
  },
});
