/* HTTP, autocannon and statistics helpers for bench/run.ts. */
import autocannon from 'autocannon'
import { cpuMsOf } from './processes.ts'

export async function call<T = any> (base: string, method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const res = await fetch(base + url, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body !== undefined ? JSON.stringify(body) : undefined
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status} ${text.slice(0, 300)}`)
  return (text === '' ? undefined : JSON.parse(text)) as T
}

export async function gql<T = any> (base: string, query: string, variables: Record<string, unknown> = {}, token?: string): Promise<T> {
  const res = await call<{ data: T, errors?: Array<{ message: string }> }>(base, 'POST', '/graphql', { query, variables }, token != null ? { authorization: `Bearer ${token}` } : {})
  if (res.errors != null) throw new Error(`GraphQL: ${JSON.stringify(res.errors)}`)
  return res.data
}

/** The Prometheus text of /metrics as `name{labels}` → value (labels as printed). */
export async function scrape (base: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text()
  const values = new Map<string, number>()
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$/.exec(line)
    if (m != null) values.set(m[1]!, Number(m[2]))
  }
  return values
}

/** Sum of a metric over the series whose labels include every `match` (e.g. `outcome="rotated"`). */
export function sum (metrics: Map<string, number>, name: string, ...match: string[]): number {
  let total = 0
  for (const [key, value] of metrics) {
    if ((key === name || key.startsWith(`${name}{`)) && match.every((m) => key.includes(m))) total += value
  }
  return total
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}
export const fmt = (x: number, digits = 0) => Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a'
/** "median (min–max)" */
export const mr = (xs: number[], digits = 0, unit = '') =>
  xs.length === 0 ? 'n/a' : xs.length === 1 ? `${fmt(xs[0]!, digits)}${unit}` : `${fmt(median(xs), digits)}${unit} (${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)})`
export const same = (xs: number[]) => xs.length === 0 ? 'n/a' : xs.every((x) => x === xs[0]) ? String(xs[0]) : `${Math.min(...xs)}–${Math.max(...xs)}`
export const verdict = (ok: boolean) => (ok ? '**met**' : '**missed**')

export interface Load {
  /** Seconds actually measured. */
  duration: number
  /** Server CPU time per answered request (all its threads), in µs: far less sensitive to other load than req/s. */
  cpuUs: number
  /** The part of it on the main (event-loop) thread. */
  mainCpuUs: number
  rps: number
  p50: number
  p99: number
  total: number
  bad: number
}

/** One autocannon run; "bad" counts errors, timeouts, non-2xx answers and bodies other than the expected one. */
export async function load (serverPid: number, connections: number, options: autocannon.Options): Promise<Load> {
  const cpu0 = cpuMsOf(serverPid)
  const main0 = cpuMsOf(serverPid, true)
  const r = await autocannon({ connections, pipelining: 1, timeout: 30, ...options })
  const cpuUs = (cpuMsOf(serverPid) - cpu0) * 1000 / Math.max(1, r.requests.total)
  const mainCpuUs = (cpuMsOf(serverPid, true) - main0) * 1000 / Math.max(1, r.requests.total)
  return { duration: r.duration, cpuUs, mainCpuUs, rps: r.requests.total / r.duration, p50: r.latency.p50, p99: r.latency.p99, total: r.requests.total, bad: r.errors + r.timeouts + r.non2xx + r.mismatches }
}
