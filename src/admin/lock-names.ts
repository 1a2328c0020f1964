import { escapeKeyPart } from '../redis/keys';
import type { HoldInfoKind } from './hold-info';

/**
 * Reading names back from keys, the inverse of lockKeys and semaphoreKeys
 * (src/redis/keys.ts): `[escaped prefix:]<kind>:{escaped name}`, where `%`,
 * `{` and `}` are escaped as `%25`, `%7B` and `%7D`, and `<kind>` is `lock`,
 * `semaphore` or `election`.
 */

/** The kinds in the order query reports them when names tie. */
export const HOLD_INFO_KINDS: readonly HoldInfoKind[] = ['lock', 'semaphore', 'election'];

/** The key every state hash of `kind` under `prefix` starts with, before the client's keyPrefix. */
export function lockKeyStem(prefix: string, kind: HoldInfoKind = 'lock'): string {
  return `${prefix === '' ? '' : `${escapeKeyPart(prefix)}:`}${kind}:{`;
}

/**
 * The SCAN MATCH pattern for the state keys of `kind` (every kind when
 * undefined) under `prefix` whose names may match `nameGlob`: exact when the
 * glob uses only `*` besides plain characters, else every name (names are
 * then matched here, since `?` or a class in the glob cannot see through the
 * escapes). Every kind: the kind is a `*`, and keys of other prefixes that
 * this lets through are dropped by nameOfKey. Fence counters
 * (`...}:fence`) never match: the pattern ends with the brace.
 */
export function scanPattern(clientKeyPrefix: string, prefix: string, nameGlob: string | undefined, kind?: HoldInfoKind): string {
  const stem =
    kind === undefined
      ? `${escapeGlob(clientKeyPrefix + (prefix === '' ? '' : `${escapeKeyPart(prefix)}:`))}*:{`
      : escapeGlob(clientKeyPrefix + lockKeyStem(prefix, kind));
  const names =
    nameGlob !== undefined && /^[^?[\]\\]*$/.test(nameGlob)
      ? nameGlob
          .split('*')
          .map((literal) => escapeGlob(escapeKeyPart(literal)))
          .join('*')
      : '*';
  return `${stem}${names}}`;
}

/** The name of a state key of `kind` (without the client's keyPrefix), or undefined for a key yadl did not lay out so. */
export function nameOfKey(key: string, prefix: string, kind: HoldInfoKind = 'lock'): string | undefined {
  const stem = lockKeyStem(prefix, kind);
  if (!key.startsWith(stem) || !key.endsWith('}')) return undefined;
  const escaped = key.slice(stem.length, -1);
  if (escaped === '' || /[{}]/.test(escaped)) return undefined;
  let valid = true;
  const name = escaped.replace(/%(25|7B|7D|..)?/g, (escape: string, code: string | undefined) => {
    if (code === '25') return '%';
    if (code === '7B') return '{';
    if (code === '7D') return '}';
    valid = false;
    return escape;
  });
  return valid ? name : undefined;
}

/** The kind and name of a state key of one of `kinds`, or undefined. */
export function holdOfKey(key: string, prefix: string, kinds: readonly HoldInfoKind[]): { kind: HoldInfoKind; name: string } | undefined {
  for (const kind of kinds) {
    const name = nameOfKey(key, prefix, kind);
    if (name !== undefined) return { kind, name };
  }
  return undefined;
}

/**
 * A Redis-style glob (`*`, `?`, `[abc]`, `[^a-z]`, backslash escapes) as a test
 * on whole names, the way Redis' MATCH would apply it to the names themselves.
 */
export function globMatcher(glob: string): (name: string) => boolean {
  // By code point, so that `?` matches one character of any plane.
  const chars = Array.from(glob);
  let source = '';
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (c === '\\' && i + 1 < chars.length) source += literal(chars[++i] as string);
    else if (c === '[') {
      const negated = chars[i + 1] === '^';
      const end = classEnd(chars, negated ? i + 2 : i + 1);
      source += `[${negated ? '^' : ''}${classBody(chars.slice(negated ? i + 2 : i + 1, end))}]`;
      i = end;
    } else source += literal(c);
  }
  const pattern = new RegExp(`^${source}$`, 'su');
  return (name) => pattern.test(name);
}

/**
 * Where the class whose members start at `from` ends: at the first `]` not
 * escaped (right away for `[]`, an empty class, as in Redis), or at the end
 * of an unclosed glob, whose rest Redis then takes as the class.
 */
function classEnd(chars: readonly string[], from: number): number {
  for (let i = from; i < chars.length; i++) {
    if (chars[i] === '\\') i++;
    else if (chars[i] === ']') return i;
  }
  return chars.length;
}

function classBody(chars: readonly string[]): string {
  let out = '';
  for (let i = 0; i < chars.length; i++) {
    let from = chars[i] as string;
    if (from === '\\' && i + 1 < chars.length) from = chars[++i] as string;
    if (chars[i + 1] === '-' && i + 2 < chars.length) {
      let j = i + 2;
      let to = chars[j] as string;
      if (to === '\\' && j + 1 < chars.length) to = chars[++j] as string;
      // Redis accepts a range given backwards; a RegExp would throw.
      const [low, high] = (from.codePointAt(0) ?? 0) <= (to.codePointAt(0) ?? 0) ? [from, to] : [to, from];
      out += `${literal(low, true)}-${literal(high, true)}`;
      i = j;
    } else out += literal(from, true);
  }
  return out;
}

/** One character that matches itself; `-` may be escaped only in a class (a `u` RegExp refuses it elsewhere). */
function literal(c: string, inClass = false): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) || (inClass && c === '-') ? `\\${c}` : c;
}

/** Escapes what Redis' glob treats as special, so that it matches itself. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
