import type { Family } from '../contenders/types';

export interface Bar {
  label: string;
  value: number | null;
  family: Family;
}

export interface BarChart {
  title: string;
  /** Axis caption, e.g. "handoff p50 (ms), log scale". */
  caption: string;
  unit: string;
  log: boolean;
  bars: readonly Bar[];
  format: (value: number) => string;
}

const COLORS: Record<Family, string> = { yadl: '#2563eb', peer: '#9ca3af', floor: '#16a34a' };
const LABEL_W = 290;
const BAR_W = 380;
const VALUE_W = 110;
const ROW_H = 24;
const TOP = 48;

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A horizontal bar chart as a standalone SVG document (no dependencies). */
export function barChartSvg(chart: BarChart): string {
  const values = chart.bars.map((b) => b.value).filter((v): v is number => v !== null && Number.isFinite(v) && (!chart.log || v > 0));
  const max = values.length > 0 ? Math.max(...values) : 1;
  const min = values.length > 0 ? Math.min(...values) : 1;
  const lo = chart.log ? Math.floor(Math.log10(min)) : 0;
  const hi = chart.log ? Math.max(lo + 1, Math.ceil(Math.log10(max))) : max;
  const scale = (v: number): number =>
    chart.log ? ((Math.log10(v) - lo) / (hi - lo)) * BAR_W : hi === 0 ? 0 : (v / hi) * BAR_W;
  const height = TOP + chart.bars.length * ROW_H + 50;
  const width = LABEL_W + BAR_W + VALUE_W + 20;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${escape(chart.title)}</text>`,
    `<text x="10" y="38" fill="#555">${escape(chart.caption)}</text>`,
  ];
  if (chart.log) {
    for (let p = lo; p <= hi; p++) {
      const x = LABEL_W + scale(10 ** p);
      out.push(`<line x1="${x.toFixed(1)}" y1="${TOP - 4}" x2="${x.toFixed(1)}" y2="${TOP + chart.bars.length * ROW_H}" stroke="#e5e7eb"/>`);
      out.push(`<text x="${x.toFixed(1)}" y="${TOP + chart.bars.length * ROW_H + 14}" text-anchor="middle" fill="#777">${escape(chart.format(10 ** p))}</text>`);
    }
  }
  chart.bars.forEach((bar, i) => {
    const y = TOP + i * ROW_H;
    out.push(`<text x="${LABEL_W - 8}" y="${y + 16}" text-anchor="end">${escape(bar.label)}</text>`);
    if (bar.value === null || !Number.isFinite(bar.value) || (chart.log && bar.value <= 0)) {
      out.push(`<text x="${LABEL_W + 4}" y="${y + 16}" fill="#999">n/a</text>`);
      return;
    }
    const w = Math.max(1, scale(bar.value));
    out.push(`<rect x="${LABEL_W}" y="${y + 4}" width="${w.toFixed(1)}" height="${ROW_H - 8}" fill="${COLORS[bar.family]}"/>`);
    out.push(`<text x="${(LABEL_W + w + 6).toFixed(1)}" y="${y + 16}">${escape(`${chart.format(bar.value)} ${chart.unit}`)}</text>`);
  });
  const legendY = height - 14;
  (['yadl', 'peer', 'floor'] as const).forEach((family, i) => {
    const x = 10 + i * 90;
    out.push(`<rect x="${x}" y="${legendY - 10}" width="12" height="12" fill="${COLORS[family]}"/>`);
    out.push(`<text x="${x + 18}" y="${legendY}">${family}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
