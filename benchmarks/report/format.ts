import type { Unit } from '../scenarios/types';

/** A number as the report shows it: three significant digits for times, whole numbers for rates. */
export function formatValue(value: number | null | undefined, unit: Unit | string): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'n/a';
  switch (unit) {
    case 'ms':
      return formatMs(value);
    case 'ops/s':
    case 'locks/s':
    case 'acq/s':
      return Math.round(value).toLocaleString('en-US');
    case 'cmd':
    case 'cmd/s':
      return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2);
    case '%':
      return `${value.toFixed(1)}%`;
    case 'B':
      return Math.round(value).toLocaleString('en-US');
    case '×':
      return formatRatio(value);
    case 'µs':
      return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(1);
    default:
      return Number.isInteger(value) ? value.toLocaleString('en-US') : value.toFixed(1);
  }
}

export function formatMs(ms: number): string {
  if (ms === 0) return '0';
  const abs = Math.abs(ms);
  if (abs >= 100) return ms.toFixed(0);
  if (abs >= 10) return ms.toFixed(1);
  if (abs >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

export function formatRatio(ratio: number | null): string {
  if (ratio === null || !Number.isFinite(ratio)) return 'n/a';
  if (ratio >= 100) return `${ratio.toFixed(0)}×`;
  if (ratio >= 10) return `${ratio.toFixed(1)}×`;
  if (ratio >= 0.1) return `${ratio.toFixed(2)}×`;
  // 0.0061× reads badly: say 1/165 as well.
  return `${ratio.toPrecision(2)}× (1/${(1 / ratio).toFixed(0)})`;
}

export function unitSuffix(unit: Unit | string): string {
  return unit === '%' || unit === 'count' || unit === '×' ? '' : ` ${unit}`;
}
