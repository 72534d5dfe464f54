// BENCH_QUERY_TIMES=1: the server child times every pg query (by the start of its SQL) and prints
// the totals to stderr when it stops. A diagnostic for "the server is idle, so where does it wait?".
import pg from 'pg';

const totals = new Map<string, { n: number; ms: number }>();
const original = pg.Client.prototype.query as (...args: unknown[]) => unknown;
(pg.Client.prototype as unknown as { query: unknown }).query = function (this: unknown, ...args: unknown[]) {
  const first = args[0];
  const text = typeof first === 'string' ? first : ((first as { text?: string })?.text ?? '?');
  const key = text.replace(/\s+/g, ' ').trim().slice(0, 110);
  const started = performance.now();
  const result = original.apply(this, args);
  if (result && typeof (result as Promise<unknown>).then === 'function') {
    (result as Promise<unknown>).then(
      () => add(key, performance.now() - started),
      () => add(key, performance.now() - started),
    );
  }
  return result;
};
function add(key: string, ms: number) {
  const entry = totals.get(key) ?? { n: 0, ms: 0 };
  entry.n++;
  entry.ms += ms;
  totals.set(key, entry);
}
export function printQueryTimes(): void {
  const rows = [...totals].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25);
  for (const [key, { n, ms }] of rows)
    process.stderr.write(
      `${ms.toFixed(0).padStart(8)} ms ${String(n).padStart(6)}× ${(ms / n).toFixed(2).padStart(7)} ms  ${key}\n`,
    );
}
