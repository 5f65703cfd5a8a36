/**
 * What every benchmark prints: a table a person can read, and the figures it is made of.
 */
import { availableParallelism, cpus } from "node:os"

/** The value at quantile `q` (0..1) of `values`. */
export const quantile = (values: ReadonlyArray<number>, q: number): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

/** The median of `values`. */
export const median = (values: ReadonlyArray<number>): number => quantile(values, 0.5)

/** `1.23` as `1.23x`. */
export const ratio = (value: number, baseline: number): string => `${(value / baseline).toFixed(2)}x`

/** Prints a titled table with aligned columns. */
export const table = (title: string, header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>) => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    `| ${cells.map((c, i) => i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join(" | ")} |`
  console.log(`\n### ${title}\n`)
  console.log(line(header))
  console.log(`|${widths.map((w, i) => i === 0 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`).join("|")}|`)
  for (const row of rows) console.log(line(row))
}

/** The machine, for the record. */
export const machine = () =>
  `${availableParallelism()} cores (${cpus()[0]?.model.trim() ?? "unknown CPU"}), Node ${process.version}`

/** Milliseconds since an arbitrary origin, sub-millisecond. */
export const now = () => performance.now()

/** A collection, when run with `--expose-gc`. */
export const collect = () => (globalThis as { gc?: () => void }).gc?.()
