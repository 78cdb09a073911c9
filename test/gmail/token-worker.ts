/*
 * One more inboxgate server instance, in a process of its own, for custody-faults.test.ts: it builds the real app
 * on the PostgreSQL schema, Google emulator and AWS vault (moto) the test gives it through the environment, says
 * READY, waits for a "go" line on stdin, then runs WORKER_CALLERS concurrent getGmailAccessToken for one user and
 * prints what came back as one RESULT line of JSON. Not a test file itself (tap only runs *.test.ts).
 *
 * Environment (besides TEST_DATABASE_URL and the AWS_* variables inherited from the test):
 *   WORKER_PG_SCHEMA, WORKER_GOOGLE_BASE_URL, WORKER_USER_ID, WORKER_CALLERS (default 50),
 *   WORKER_GOOGLE_TIMEOUT_MS (default 1000).
 */
import { createInterface } from 'node:readline'
import { buildTestApp } from '../helper.ts'
import { IOS, WEB } from './helpers.ts'
import { custodyVaultEnv } from '../support/kms.ts'

const required = (name: string): string => {
  const value = process.env[name]
  if (value == null || value === '') throw new Error(`token-worker: ${name} is not set`)
  return value
}

const schema = required('WORKER_PG_SCHEMA')
const googleBaseUrl = required('WORKER_GOOGLE_BASE_URL')
const userId = required('WORKER_USER_ID')
const callers = Number(process.env.WORKER_CALLERS ?? '50')
if (process.env.TEST_DATABASE_URL == null || process.env.TEST_DATABASE_URL === '') {
  throw new Error('token-worker: needs TEST_DATABASE_URL (a database shared with the test process)')
}

const teardowns: Array<() => unknown> = []
// The wall clock (no ManualClock): a clock cannot be shared across processes, so the test moves the
// stored expiry into the refresh margin instead of moving time.
const { app } = await buildTestApp({ teardown: (fn) => { teardowns.push(fn) } }, {
  pgSchema: schema,
  env: {
    ...await custodyVaultEnv(),
    GOOGLE_CLIENT_ID: WEB.id,
    GOOGLE_CLIENT_SECRET: WEB.secret,
    GOOGLE_IOS_CLIENT_IDS: IOS.id,
    GOOGLE_API_BASE_URL: googleBaseUrl,
    GOOGLE_TIMEOUT_MS: process.env.WORKER_GOOGLE_TIMEOUT_MS ?? '1000'
  }
})

const lines = createInterface({ input: process.stdin })
const go = new Promise<void>((resolve, reject) => {
  lines.on('line', (line) => { if (line.trim() === 'go') resolve() })
  lines.once('close', () => reject(new Error('token-worker: stdin closed before "go"')))
})
process.stdout.write(`READY ${JSON.stringify({ pid: process.pid, vault: app.vault.kind })}\n`)

let exitCode = 0
try {
  await go
  const before = app.vault.stats()
  const settled = await Promise.allSettled(Array.from({ length: callers }, async () => await app.gmailConnections.getGmailAccessToken(userId)))
  const after = app.vault.stats()
  const result = {
    tokens: settled.flatMap((s) => s.status === 'fulfilled' ? [s.value] : []),
    // Codes only: an error message could in principle quote something it should not.
    errors: settled.flatMap((s) => s.status === 'rejected' ? [String((s.reason as { code?: unknown }).code ?? (s.reason as Error).name)] : []),
    vault: { reads: after.reads - before.reads, writes: after.writes - before.writes, deletes: after.deletes - before.deletes }
  }
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
} catch (err) {
  process.stderr.write(`token-worker failed: ${(err as Error).message}\n`)
  exitCode = 1
} finally {
  lines.close()
  for (const fn of teardowns) await fn()
}
process.exit(exitCode)
