/*
 * Processes for bench/run.ts: the built server (`node dist/src/server.js`, exactly what `npm start` runs, with no
 * bench code in it) and the lean reference (bench/lean/), each pinned to a CPU with taskset, and what is read from
 * /proc about them (CPU time, RSS). Everything started here is stopped by cleanup(), also on failure or Ctrl-C.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { build } from 'esbuild'

export const ROOT = path.resolve(import.meta.dirname, '..')
export const log = (line: string) => process.stderr.write(`[bench] ${line}\n`)
export const sleep = async (ms: number) => await new Promise((resolve) => setTimeout(resolve, ms))

const hasTaskset = spawnSync('taskset', ['--version']).status === 0
export const CPUS = os.cpus().length
export const LOADGEN_CPU = 0
export const SERVER_CPU = CPUS > 1 ? 1 : 0
export const pinned = hasTaskset && CPUS > 1

const children = new Set<ChildProcess>()
const cleanups: Array<() => Promise<unknown>> = []
process.on('exit', () => { for (const c of children) c.kill('SIGKILL') })

export function onCleanup (fn: () => Promise<unknown>): void { cleanups.push(fn) }

export async function cleanup (): Promise<void> {
  await Promise.allSettled([...children].map(async (c) => await stopChild(c)))
  for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {})
}

/**
 * A bench script's entry: runs `main`, reports a failure on stderr with exit code 1, stops every child and cleanup,
 * then exits (any handle left open, a keep-alive socket of fetch say, must not keep `npm run bench` waiting).
 */
export async function runBench (main: () => Promise<void>): Promise<never> {
  try {
    await main()
  } catch (err) {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`)
    process.exitCode = 1
  } finally {
    await cleanup()
  }
  process.exit(process.exitCode ?? 0)
}

/** SIGTERM (the server's graceful stop), SIGKILL after `graceMs`; resolves once the process has exited. */
export async function stopChild (child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    }).on('error', reject)
  })
}

export interface Proc {
  name: string
  pid: number
  url: string
  stop (): Promise<void>
}

/**
 * `taskset -c CPU <node> <script>` (taskset execs node, so the pid is the server's); ready once `readyPath` answers
 * 200. stdout goes to /dev/null: the server logs at its configured level as in production, the writes cost it
 * what they cost, and nobody on the load generator's CPU pays for reading them.
 */
export async function startProcess (name: string, node: string, script: string, env: Record<string, string | undefined>, opts: { cpu?: number, readyPath: string, args?: string[] }): Promise<Proc> {
  const port = await freePort()
  const argv = [node, ...(opts.args ?? []), script]
  const [cmd, ...args] = pinned ? ['taskset', '-c', String(opts.cpu ?? SERVER_CPU), ...argv] : argv
  const merged: Record<string, string> = {}
  for (const [k, v] of Object.entries({ ...process.env, ...env, PORT: String(port) })) if (v != null) merged[k] = v
  const child = spawn(cmd!, args, { cwd: ROOT, env: merged, stdio: ['ignore', 'ignore', 'pipe'] })
  children.add(child)
  child.once('exit', () => children.delete(child))
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-4000) })
  const url = `http://127.0.0.1:${port}`
  const started = performance.now()
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}) before it was ready:\n${stderr}`)
    if (performance.now() - started > 180_000) throw new Error(`${name}: not ready after 180 s\n${stderr}`)
    try {
      if ((await fetch(url + opts.readyPath)).status === 200) break
    } catch {}
    await sleep(50)
  }
  return { name, pid: child.pid!, url, stop: async () => await stopChild(child) }
}

/** Bundles the lean reference (its packages stay imports, resolved from node_modules) so plain node runs it. */
export async function buildLean (): Promise<string> {
  const outfile = path.join(ROOT, 'node_modules', '.cache', 'inboxgate-bench', 'lean-server.mjs')
  await build({ entryPoints: [path.join(ROOT, 'bench', 'lean', 'server.ts')], outfile, bundle: true, packages: 'external', platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning' })
  return outfile
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100

/** CPU time (user + system) a process (all its threads), or only its main thread, has used so far, in ms. */
export function cpuMsOf (pid: number, mainThreadOnly = false): number {
  // Fields after the command name, which is in parentheses and may contain spaces: utime and stime are 14th and 15th.
  const fields = readFileSync(mainThreadOnly ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 1000 / CLOCK_TICKS
}

/** Pins a process and every thread of it to `cpus` (e.g. "0" or "0,1"). */
export function pin (pid: number, cpus: string): void {
  if (pinned) execFileSync('taskset', ['-a', '-cp', cpus, String(pid)], { stdio: 'ignore' })
}

/**
 * PostgreSQL goes to the load generator's CPU, so that the server's CPU is the server's alone (in production the
 * database is another machine). Backends fork from the postmaster, so they inherit its affinity.
 */
export function pinPostgres (cpu: number): boolean {
  const dataDir = process.env.PG_DATA_DIR
  if (!pinned || dataDir == null) return false
  try {
    const postmaster = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
    const kids = spawnSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number)
    for (const pid of [postmaster, ...kids]) pin(pid, String(cpu))
    return true
  } catch {
    return false
  }
}

/** VmRSS / VmHWM (peak RSS) of a process, in MiB. */
export function memoryOf (pid: number): { rss: number, hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 }
}

/** The highest RSS seen in each phase, sampled every 100 ms. */
export class RssSampler {
  readonly peaks = new Map<string, number>()
  #phase = 'setup'
  readonly #timer: NodeJS.Timeout
  constructor (readonly pid: number) {
    this.#timer = setInterval(() => this.sample(), 100)
  }

  phase (name: string): void {
    this.sample()
    this.#phase = name
    this.sample()
  }

  sample (): void {
    try {
      const { rss } = memoryOf(this.pid)
      this.peaks.set(this.#phase, Math.max(this.peaks.get(this.#phase) ?? 0, rss))
    } catch {}
  }

  stop (): void {
    clearInterval(this.#timer)
  }
}

/** The Node.js binaries to run the server under: this one (Node 20 in CI) and Node 26 from scripts/node26.sh. */
export function nodeBinaries (wanted: string[]): Array<{ label: string, bin: string, version: string }> {
  const found: Array<{ label: string, bin: string, version: string }> = []
  for (const major of wanted) {
    let bin: string | undefined
    if (process.version.startsWith(`v${major}.`)) bin = process.execPath
    else if (major === '26') {
      const r = spawnSync(path.join(ROOT, 'scripts', 'node26.sh'), { encoding: 'utf8' })
      if (r.status === 0) bin = path.join(r.stdout.trim(), 'node')
      else log(`Node 26 unavailable (scripts/node26.sh: ${r.stderr.trim().split('\n').at(-1) ?? ''}); skipped`)
    } else log(`no Node ${major} binary known (the orchestrator runs ${process.version}); skipped`)
    if (bin != null) found.push({ label: `Node ${major}`, bin, version: spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim() })
  }
  return found
}
