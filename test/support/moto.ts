import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { constants, rmSync } from 'node:fs'
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import type { Test } from 'tap'
import { freePort } from './free-port.ts'

export interface MotoOptions {
  /**
   * Keep moto's state across restart(): moto holds everything in memory, so this turns on its request recorder
   * (MOTO_ENABLE_RECORDING) and replays the recording into the new process. Off by default (it writes every
   * request body, secret values included, to a temporary file, removed when the test process exits).
   */
  persistent?: boolean
  /** How long to wait for moto to answer HTTP; it imports every AWS service model first (~1 s). */
  startTimeoutMs?: number
}

export interface MotoServer {
  /** http://127.0.0.1:<port> — set it as AWS_ENDPOINT_URL. */
  readonly endpoint: string
  readonly port: number
  readonly running: boolean
  /** Stops moto and waits until it has exited. Idempotent; restart() may follow. */
  stop (): Promise<void>
  /** Stops moto if it runs, then starts it again on the same port (replaying its state when persistent). */
  restart (): Promise<void>
  /** SIGSTOP: the kernel still accepts connections but nothing answers, like a hung endpoint. */
  pause (): void
  /** SIGCONT after pause(); queued requests are then answered. */
  resume (): void
}

const HOST = '127.0.0.1'

// moto runs under a tiny sh watchdog whose stdin is a pipe from this process. EOF on that pipe (stop(), or this
// process dying in any way, SIGKILL included, when no exit handler runs) makes it terminate moto, and the sh only
// exits once moto has: its exit is our proof that moto is gone.
const WATCHDOG = [
  'exec 3<&0 0</dev/null',
  '"$0" "$@" &',
  'pid=$!',
  '( read -r _ <&3; kill -TERM "$pid" 2>/dev/null ) &',
  'wait "$pid"'
].join('\n')

export async function startMoto (options: MotoOptions = {}): Promise<MotoServer> {
  const binary = await findOnPath('moto_server')
  if (binary === null) {
    throw new Error('moto_server not found: install moto[server] (pip install "moto[server]") so that moto_server is on PATH')
  }
  const startTimeoutMs = options.startTimeoutMs ?? 20_000
  const stateDir = options.persistent === true ? await mkdtemp(path.join(os.tmpdir(), 'moto-state-')) : null
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1' }
  let healthPath = '/moto-api/'
  if (stateDir !== null) {
    // Kept across stop() so that a later restart() can replay it.
    process.once('exit', () => rmSync(stateDir, { recursive: true, force: true }))
    env.MOTO_ENABLE_RECORDING = 'True'
    env.MOTO_RECORDER_FILEPATH = path.join(stateDir, 'recording.jsonl')
    await writeFile(env.MOTO_RECORDER_FILEPATH, '', { mode: 0o600 })
    // The recorder logs every request except its own endpoints, and replaying a recorded dashboard GET fails
    // (HTTP 500, which aborts the whole replay), so readiness is polled on a recorder endpoint.
    healthPath = '/moto-api/recorder/download-recording'
  }

  let port = 0
  let proc: RunningMoto | null = null
  let launching: Promise<void> | null = null

  // A port found free can be taken before moto binds it, and after a stop the old socket can linger briefly.
  const launchWithRetry = async (pickPort: boolean): Promise<RunningMoto> => {
    for (let attempt = 0; ; attempt++) {
      if (pickPort) port = await freePort()
      try {
        return await launch(binary, port, env, healthPath, startTimeoutMs)
      } catch (err) {
        if (!(err instanceof PortInUseError) || attempt >= 8) throw err
        if (!pickPort) await sleep(200)
      }
    }
  }

  try {
    proc = await launchWithRetry(true)
  } catch (err) {
    if (stateDir !== null) await rm(stateDir, { recursive: true, force: true })
    throw err
  }

  const endpoint = `http://${HOST}:${port}`
  const server: MotoServer = {
    endpoint,
    port,
    get running () {
      return proc !== null && !proc.exited
    },
    async stop () {
      // A teardown racing a restart in flight must not leave the new moto behind: wait for it, then stop it.
      await launching?.catch(() => {})
      const p = proc
      proc = null
      if (p !== null) await p.kill()
    },
    async restart () {
      await server.stop()
      launching = launchWithRetry(false).then((p) => { proc = p })
      try {
        await launching
      } finally {
        launching = null
      }
      if (stateDir !== null && proc !== null) {
        const res = await request('POST', `${endpoint}/moto-api/recorder/replay-recording`, 30_000)
        if (res.status !== 200) throw new Error(`moto replay failed with HTTP ${res.status}:\n${proc.stderrTail()}`)
      }
    },
    pause () {
      if (proc === null) throw new Error('moto is not running')
      proc.signal('SIGSTOP')
    },
    resume () {
      if (proc === null) throw new Error('moto is not running')
      proc.signal('SIGCONT')
    }
  }
  return server
}

class PortInUseError extends Error {}

interface RunningMoto {
  readonly exited: boolean
  stderrTail (): string
  signal (sig: NodeJS.Signals): void
  kill (): Promise<void>
}

async function launch (
  binary: string,
  port: number,
  env: NodeJS.ProcessEnv,
  healthPath: string,
  timeoutMs: number
): Promise<RunningMoto> {
  // detached: a process group of its own, so pause() and the SIGKILL fallback reach sh, watcher and moto at once.
  const child: ChildProcess = spawn('/bin/sh', ['-c', WATCHDOG, binary, '-H', HOST, '-p', String(port)], {
    env,
    detached: true,
    stdio: ['pipe', 'ignore', 'pipe']
  })
  let stderrTail = ''
  // werkzeug logs every request to stderr: drain it (a full pipe would block moto) and keep the tail for errors.
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-4000)
  })
  // Nothing is ever written; an EPIPE here only means the watchdog is already gone.
  child.stdin?.on('error', () => {})

  let exited = false
  let spawnError: Error | undefined
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true
      resolve()
    })
    child.once('error', (err) => {
      spawnError = err
      exited = true
      resolve()
    })
  })

  const signal = (sig: NodeJS.Signals) => {
    if (exited || child.pid === undefined) return
    try {
      process.kill(-child.pid, sig)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
    }
  }

  // Belt and braces for a normal exit with moto still up: 'exit' handlers must be synchronous.
  const killOnExit = () => signal('SIGKILL')
  process.on('exit', killOnExit)

  const kill = async () => {
    process.off('exit', killOnExit)
    signal('SIGCONT') // a paused watchdog could not read its EOF
    child.stdin?.end()
    if (exited) return
    const timer = setTimeout(() => signal('SIGKILL'), 5000)
    await exitPromise
    clearTimeout(timer)
  }

  const deadline = Date.now() + timeoutMs
  const endpoint = `http://${HOST}:${port}`
  for (;;) {
    if (exited) {
      await kill()
      if (spawnError !== undefined) throw new Error(`moto_server failed to start: ${spawnError.message}`)
      if (/address already in use/i.test(stderrTail)) throw new PortInUseError(`port ${port} is in use`)
      throw new Error(`moto_server exited before answering on port ${port}:\n${stderrTail}`)
    }
    try {
      // Any HTTP answer means it is serving; healthPath is one of moto's own endpoints, not an AWS call.
      await request('GET', `${endpoint}${healthPath}`, 1000)
      break
    } catch {
      if (Date.now() > deadline) {
        await kill()
        throw new Error(`moto_server did not answer on port ${port} within ${timeoutMs} ms:\n${stderrTail}`)
      }
      await sleep(100)
    }
  }

  return {
    get exited () {
      return exited
    },
    stderrTail: () => stderrTail,
    signal,
    kill
  }
}

/** A bare HTTP request with no keep-alive agent, so polling leaves no socket behind to hold the event loop. */
function request (method: string, url: string, timeoutMs: number): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false, timeout: timeoutMs }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
}

async function findOnPath (command: string): Promise<string | null> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue
    const candidate = path.join(dir, command)
    try {
      await access(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return null
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Points the AWS SDK of this process (and of servers it spawns with its environment) at moto through the SDK's own
 * environment variables, exactly as production configures it; restored when `t` ends. A service-specific endpoint
 * or a profile from the machine would win over these values, so they are cleared.
 */
export function useMotoEnv (t: Test, moto: MotoServer): void {
  const values: Record<string, string | undefined> = {
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ENDPOINT_URL_SECRETS_MANAGER: undefined,
    AWS_PROFILE: undefined
  }
  const saved = Object.fromEntries(Object.keys(values).map((k) => [k, process.env[k]]))
  const set = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) delete process.env[k]
      else process.env[k] = x
    }
  }
  set(values)
  t.teardown(() => set(saved))
}
