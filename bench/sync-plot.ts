/**
 * The SVG plot of bench:sync: |position error| over time, one panel per profile, p50, p99
 * and max per time bucket, on a log scale (errors span 0.01 ms to tens of ms).
 */
export interface PlotSeries {
  profile: string;
  /** [bucket start (s), p50, p99, max] of |error| in ms. */
  buckets: Array<[number, number, number, number]>;
}

const W = 760;
const PANEL_H = 150;
const LEFT = 60;
const RIGHT = 20;
const TOP = 30;
const COLORS = ["#1f77b4", "#d62728", "#999999"];
const LABELS = ["p50", "p99", "max"];
const Y_MIN = 0.01;
const Y_MAX = 1000;

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");

export function plotPositionErrors(series: PlotSeries[], title: string): string {
  const height = TOP + series.length * (PANEL_H + 40) + 20;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${LEFT}" y="18" font-size="13">${esc(title)}</text>`,
  ];
  const yOf = (ms: number, y0: number) => {
    const v = Math.min(Y_MAX, Math.max(Y_MIN, ms));
    return y0 + PANEL_H - ((Math.log10(v) - Math.log10(Y_MIN)) / (Math.log10(Y_MAX) - Math.log10(Y_MIN))) * PANEL_H;
  };
  series.forEach((s, i) => {
    const y0 = TOP + i * (PANEL_H + 40) + 15;
    const tMax = Math.max(60, ...s.buckets.map((b) => b[0]));
    const xOf = (t: number) => LEFT + (t / tMax) * (W - LEFT - RIGHT);
    out.push(`<text x="${LEFT}" y="${y0 - 4}" font-weight="bold">${esc(s.profile)}</text>`);
    out.push(`<rect x="${LEFT}" y="${y0}" width="${W - LEFT - RIGHT}" height="${PANEL_H}" fill="none" stroke="#ccc"/>`);
    for (const ms of [0.01, 0.1, 1, 10, 100, 1000]) {
      const y = yOf(ms, y0);
      out.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${y}" y2="${y}" stroke="${ms === 1 ? "#bbb" : "#eee"}"/>`);
      out.push(`<text x="${LEFT - 5}" y="${y + 4}" text-anchor="end">${ms} ms</text>`);
    }
    for (let t = 0; t <= tMax; t += 60) {
      out.push(`<text x="${xOf(t)}" y="${y0 + PANEL_H + 13}" text-anchor="middle">${t / 60} min</text>`);
    }
    for (let k = 0; k < 3; k++) {
      const pts = s.buckets.map((b) => `${xOf(b[0]).toFixed(1)},${yOf(b[k + 1]!, y0).toFixed(1)}`).join(" ");
      out.push(`<polyline points="${pts}" fill="none" stroke="${COLORS[k]}" stroke-width="${k === 1 ? 1.5 : 1}"/>`);
      out.push(`<text x="${W - RIGHT - 90 + k * 30}" y="${y0 - 4}" fill="${COLORS[k]}">${LABELS[k]}</text>`);
    }
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
