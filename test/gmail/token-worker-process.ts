import { spawn } from 'node:child_process'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import path from 'node:path'
import { createInterface } from 'node:readline'
import type { Test } from 'tap'

// Drives test/gmail/token-worker.ts (another inboxgate instance in its own OS process) from a test.

export interface WorkerResult { tokens: string[], errors: string[], vault: { reads: number, writes: number, deletes: number } }

export interface Worker {
  ready: Promise<void>
  result: Promise<WorkerResult>
  go (): void
}

/** Starts test/gmail/token-worker.ts: another inboxgate instance in its own OS process. */
export function startWorker (t: Test, env: Record<string, string>): Worker {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'token-worker.ts')], {
    cwd: path.resolve(import.meta.dirname, '../..'),
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-4000) })
  child.stdin.on('error', () => {}) // EPIPE if it died early: reported through `result`
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })

  let onReady!: () => void
  const ready = new Promise<void>((resolve) => { onReady = resolve })
  let result: WorkerResult | undefined
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith('READY ')) onReady()
    if (line.startsWith('RESULT ')) result = JSON.parse(line.slice('RESULT '.length)) as WorkerResult
  })
  const failed = exited.then((code) => { throw new Error(`token worker exited (${String(code)}) early:\n${stderr}`) })
  const finished = exited.then((code) => {
    if (code !== 0 || result === undefined) throw new Error(`token worker exited with ${String(code)} and ${result === undefined ? 'no' : 'a'} result:\n${stderr}`)
    return result
  })
  finished.catch(() => {}) // awaited by the test; this only keeps an early failure from being "unhandled"
  return {
    ready: Promise.race([ready, failed]),
    result: finished,
    go: () => { child.stdin.write('go\n') }
  }
}
