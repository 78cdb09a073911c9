/*
 * Spawning the BUILT server (`node dist/src/server.js`, what `npm start` runs) for bench/startup.ts and bench/soak.ts,
 * which watch one server from its spawn (start-up time, --trace-gc on stdout) rather than from its first ready answer
 * as bench/processes.ts's startProcess does. Nothing here is part of the product.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { freePort, pinned, ROOT, SERVER_CPU, stopChild } from './processes.ts'

export { cpuMsOf, memoryOf, sleep } from './processes.ts'
export { median } from './load.ts'

export const SERVER_ENTRY = path.join(ROOT, 'dist', 'src', 'server.js')

export function assertBuilt (): void {
  if (!existsSync(SERVER_ENTRY)) throw new Error(`${path.relative(ROOT, SERVER_ENTRY)} is missing: run \`npm run build\` first`)
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
  const [cmd, ...args] = pinned ? ['taskset', '-c', String(SERVER_CPU), ...argv] : argv
  const child = spawn(cmd!, args, { cwd: ROOT, env: merged, stdio: ['ignore', 'pipe', 'pipe'] })
  // Drained unless a caller listens (bench/soak.ts reads V8's --trace-gc lines, which go to stdout).
  child.stdout.resume()
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-4000) })
  // The server's warnings and errors (pino, on stdout) go with its stderr into a failed run's message.
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (/"level":[4-9]\d/.test(line)) stderr = (stderr + line + '\n').slice(-4000)
  })
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    stderr: () => stderr,
    stop: async () => await stopChild(child, 15_000)
  }
}
