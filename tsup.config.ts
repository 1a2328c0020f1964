import { defineConfig } from 'tsup';

export default defineConfig([
  {
    // `yadl/otel` is its own entry, so that only its importers need @opentelemetry/api.
    entry: { index: 'src/index.ts', otel: 'src/observability/otel.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    // The CLI is built beside the library, at the same time: its folder is its own to clean.
    clean: ['!cli/**'],
    target: 'node20',
    platform: 'node',
    sourcemap: true,
    splitting: false,
    treeshake: true,
    outDir: 'dist',
    // peer dependencies are never bundled
    external: ['rxjs', 'ioredis', '@opentelemetry/api'],
  },
  {
    // The `yadl` command line (package.json "bin"); tsup keeps main.ts's shebang and makes it executable.
    entry: { yadl: 'src/cli/main.ts' },
    format: ['esm'],
    dts: false,
    clean: true,
    target: 'node20',
    platform: 'node',
    sourcemap: true,
    splitting: false,
    treeshake: true,
    outDir: 'dist/cli',
    external: ['rxjs', 'ioredis', '@opentelemetry/api'],
  },
]);
