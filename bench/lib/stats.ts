/** Nearest-rank percentile; NaN for no samples. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export const median = (xs: number[]) => percentile(xs, 50);

export const round = (x: number, digits = 1) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);

/** Median and p99 of samples, with their count. */
export const dist = (xs: number[]) => ({
  median: round(median(xs)),
  p99: round(percentile(xs, 99)),
  n: xs.length,
});
export type Dist = ReturnType<typeof dist>;
