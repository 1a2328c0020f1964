#!/usr/bin/env node
// Embeds src/redis/scripts/*.lua into src/redis/scripts/lua.generated.ts.
//
//   node scripts/embed-lua.mjs          write the generated file
//   node scripts/embed-lua.mjs --check  exit 1 if the generated file is out of date
//
// Scripts live in a folder per kind of hold, `src/redis/scripts/<kind>/`, with
// file names `<name>-<numberOfKeys>.lua` (e.g. `lock/force-release-1.lua`);
// the export is `luaScripts.<kind>.<name>` in camelCase (`lock.forceRelease`).
// A line `--- @include "name"` is replaced by src/redis/scripts/includes/<name>.lua
// (recursively; each include is inlined at most once per script).
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const scriptsDir = path.join(root, 'src', 'redis', 'scripts');
const includesDir = path.join(scriptsDir, 'includes');
const outFile = path.join(scriptsDir, 'lua.generated.ts');
const check = process.argv.includes('--check');

const INCLUDE_RE = /^\s*---\s*@include\s+"([^"]+)"\s*$/;
const FILE_RE = /^([a-z][a-z0-9]*(?:-[a-z][a-z0-9]*)*)-(\d+)\.lua$/;

function fail(message) {
  console.error(`embed-lua: ${message}`);
  process.exit(1);
}

function camelCase(name) {
  return name.replace(/-([a-z0-9])/g, (_, c) => c.toUpperCase());
}

function resolveIncludes(source, fromFile, included, stack) {
  const out = [];
  for (const line of source.split(/\r?\n/)) {
    const m = INCLUDE_RE.exec(line);
    if (!m) {
      out.push(line);
      continue;
    }
    const name = m[1];
    if (!/^[A-Za-z0-9_.\-/]+$/.test(name) || name.includes('..')) {
      fail(`${path.relative(root, fromFile)}: invalid include name "${name}"`);
    }
    if (stack.includes(name)) {
      fail(`${path.relative(root, fromFile)}: include cycle ${[...stack, name].join(' -> ')}`);
    }
    if (included.has(name)) continue; // at most once per script
    const incFile = path.join(includesDir, `${name}.lua`);
    if (!existsSync(incFile)) {
      fail(`${path.relative(root, fromFile)}: include "${name}" not found (${path.relative(root, incFile)})`);
    }
    included.add(name);
    const body = resolveIncludes(readFileSync(incFile, 'utf8'), incFile, included, [...stack, name]);
    out.push(`-- begin include "${name}"`, body.replace(/\s+$/, ''), `-- end include "${name}"`);
  }
  return out.join('\n');
}

/** One kind of hold a folder: src/redis/scripts/<kind>/<name>-<numberOfKeys>.lua. */
function kindFolders() {
  if (!existsSync(scriptsDir)) return [];
  const loose = readdirSync(scriptsDir).filter((f) => f.endsWith('.lua'));
  if (loose.length > 0) fail(`src/redis/scripts/${loose[0]}: scripts live in a folder per kind of hold (src/redis/scripts/<kind>/)`);
  return readdirSync(scriptsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== 'includes')
    .map((d) => d.name)
    .sort();
}

function generateKind(kind) {
  const dir = path.join(scriptsDir, kind);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.lua'))
    .sort();
  const entries = [];
  const seen = new Map();
  for (const file of files) {
    const m = FILE_RE.exec(file);
    if (!m) fail(`src/redis/scripts/${kind}/${file}: expected a name like "acquire-2.lua" (<name>-<numberOfKeys>.lua)`);
    const key = camelCase(m[1]);
    if (seen.has(key)) fail(`scripts ${seen.get(key)} and ${file} both map to "${key}"`);
    seen.set(key, file);
    const full = path.join(dir, file);
    const lua = resolveIncludes(readFileSync(full, 'utf8'), full, new Set(), []).replace(/\s+$/, '') + '\n';
    entries.push({ key, file, numberOfKeys: Number(m[2]), lua });
  }
  const body = entries
    .map(
      (e) =>
        `    // ${kind}/${e.file}\n    ${e.key}: {\n      numberOfKeys: ${e.numberOfKeys},\n      lua: ${JSON.stringify(e.lua)},\n    },`,
    )
    .join('\n');
  return `  ${camelCase(kind)}: {\n${body}\n  },`;
}

function generate() {
  const header = [
    '// GENERATED FILE - DO NOT EDIT.',
    '// Source: src/redis/scripts/<kind>/*.lua (with src/redis/scripts/includes/*.lua inlined).',
    '// Regenerate with: npm run build:lua',
    '',
  ].join('\n');
  const kinds = kindFolders();
  if (kinds.length === 0) return `${header}export const luaScripts = {} as const;\n`;
  return `${header}export const luaScripts = {\n${kinds.map(generateKind).join('\n')}\n} as const;\n`;
}

const content = generate();
const current = existsSync(outFile) ? readFileSync(outFile, 'utf8') : null;
const rel = path.relative(root, outFile);

if (check) {
  if (current !== content) {
    console.error(
      `embed-lua: ${rel} is ${current === null ? 'missing' : 'out of date'}; run \`npm run build:lua\` and commit the result.`,
    );
    process.exit(1);
  }
  console.log(`embed-lua: ${rel} is up to date`);
} else if (current === content) {
  console.log(`embed-lua: ${rel} unchanged`);
} else {
  mkdirSync(scriptsDir, { recursive: true });
  writeFileSync(outFile, content);
  console.log(`embed-lua: wrote ${rel}`);
}
