import { defineConfig } from 'tsup';

export default defineConfig({
  // `yadl/otel` is its own entry, so that only its importers need @opentelemetry/api.
  entry: { index: 'src/index.ts', otel: 'src/observability/otel.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  splitting: false,
  treeshake: true,
  outDir: 'dist',
  // peer dependencies are never bundled
  external: ['rxjs', 'ioredis', '@opentelemetry/api'],
});
