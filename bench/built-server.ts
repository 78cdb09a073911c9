/*
 * Spawning the BUILT server (`node dist/src/server.js`, what `npm start` runs) for bench/startup.ts and bench/soak.ts:
 * a free port, /proc memory figures, a clean stop. Nothing here is part of the product.
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import os from 'node:os'
import path from 'node:path'

export const ROOT = path.resolve(import.meta.dirname, '..')
export const SERVER_ENTRY = path.join(ROOT, 'dist', 'src', 'server.js')

const hasTaskset = spawnSync('taskset', ['--version']).status === 0
/** The CPU the server is pinned to when the machine has two or more (the load generator keeps the other). */
export const SERVER_CPU = os.cpus().length > 1 && hasTaskset ? 1 : null

export function assertBuilt (): void {
  if (!existsSync(SERVER_ENTRY)) throw new Error(`${path.relative(ROOT, SERVER_ENTRY)} is missing: run \`npm run build\` first`)
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    }).on('error', reject)
  })
}

/** RSS now and its high-water mark, MiB, from /proc (the kernel's figures: what a container limit counts). */
export function memoryOf (pid: number): { rss: number, hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 }
}

/** CPU time (user + system) the process has used so far, ms: steadier than wall time on a shared machine. */
export function cpuMsOf (pid: number): number {
  // Fields 14 and 15 of /proc/PID/stat, counted after the command name's closing parenthesis.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

export interface SpawnedServer {
  child: ChildProcess
  url: string
  stderr: () => string
  stop: () => Promise<void>
}

/** Starts `node [nodeArgs] dist/src/server.js` with `env` over a minimal environment, pinned when possible. */
export async function spawnBuiltServer (node: string, env: Record<string, string | undefined>, nodeArgs: string[] = []): Promise<SpawnedServer> {
  const port = await freePort()
  const merged: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir() }
  for (const [k, v] of Object.entries({ HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env, PORT: String(port) })) if (v != null) merged[k] = v
  const argv = [node, ...nodeArgs, SERVER_ENTRY]
  const [cmd, ...args] = SERVER_CPU === null ? argv : ['taskset', '-c', String(SERVER_CPU), ...argv]
  const child = spawn(cmd!, args, { cwd: ROOT, env: merged, stdio: ['ignore', 'pipe', 'pipe'] })
  // Drained unless a caller listens (bench/soak.ts reads V8's --trace-gc lines, which go to stdout).
  child.stdout!.resume()
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-4000) })
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      await exited
      clearTimeout(timer)
    }
  }
}

export const sleep = async (ms: number) => await new Promise((resolve) => setTimeout(resolve, ms))

/** Median, and the min–max spread as text. */
export function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
