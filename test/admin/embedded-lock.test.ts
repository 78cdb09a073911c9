import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { test } from 'tap'
import type { Test } from 'tap'
import { PASSWORD } from '../helper.ts'
import { freePort } from '../support/free-port.ts'

// Issue 20, item 1: with the embedded database, an admin command beside a running server printed DISABLED and
// wrote into a copy the server never saw. Now the server holds DATA_DIR and the others refuse, writing nothing.

/** A server process on a fresh embedded data directory, resolved once it listens. */
async function startServerProcess (t: Test, env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess, url: string, output: () => string }> {
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { env: { ...env, PORT: String(port), LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => { output += c })
  child.stderr.setEncoding('utf8').on('data', (c: string) => { output += c })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start after 240 s:\n${output}`)), 240_000)
    const check = () => { if (output.includes('Ctrl-C stops it')) { clearTimeout(timer); resolve() } }
    child.stdout.on('data', check)
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}:\n${output}`)) })
  })
  return { child, url: `http://127.0.0.1:${port}`, output: () => output }
}

test('embedded database: admin commands and a second server refuse while a server holds DATA_DIR; after a SIGKILL they run', async (t) => {
  const dir = t.testdir({})
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dir, JWT_SECRET: 'k'.repeat(43), LOG_LEVEL: 'warn' }
  delete env.DATABASE_URL
  const admin = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/admin/cli.ts', ...args], { env, encoding: 'utf8', timeout: 240_000 })
  const server = await startServerProcess(t, env)
  // Issue 20, item 5: the first start says what to do next.
  t.match(server.output(), /inboxgate is running on http:\/\/127\.0\.0\.1:\d+/)
  t.match(server.output(), /GraphiQL +http:\/\/127\.0\.0\.1:\d+\/graphiql/)
  t.match(server.output(), /Google +not configured \(GOOGLE_CLIENT_ID unset\)/)
  t.match(server.output(), '`npm run dev`')
  const home = await fetch(`${server.url}/`)
  t.equal(home.status, 200)
  t.match(await home.json(), { name: 'inboxgate', graphql: '/graphql', graphiql: '/graphiql', health: { ready: '/health/ready' } })
  const graphql = async (query: string, variables: Record<string, unknown>) => await (await fetch(`${server.url}/graphql`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables })
  })).json() as { data?: Record<string, any>, errors?: unknown[] }
  const signUp = await graphql('mutation ($input: SignUpInput!) { signUp(input: $input) { accessToken } }',
    { input: { email: 'newcomer@example.com', password: PASSWORD, client: 'NATIVE' } })
  t.equal(signUp.errors, undefined)

  const refused = admin('disable-user', 'newcomer@example.com')
  t.equal(refused.status, 1)
  t.equal(refused.stdout, '', 'no DISABLED printed')
  t.match(refused.stderr, /^admin: The embedded database .*pglite is in use by another process \(PID \d+, server\.ts/)
  t.match(refused.stderr, 'stop that process first')
  t.notMatch(refused.stderr, /\n\s+at /, 'no stack trace')
  const login = await graphql('mutation ($input: LoginInput!) { login(input: $input) { accessToken } }',
    { input: { email: 'newcomer@example.com', password: PASSWORD, client: 'NATIVE' } })
  t.equal(login.errors, undefined, 'nothing was written: the user can still sign in')

  const second = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], { env: { ...env, PORT: String(await freePort()) }, encoding: 'utf8', timeout: 240_000 })
  t.equal(second.status, 1)
  t.match(second.stderr, /^inboxgate failed to start: The embedded database .* is in use by another process/)
  t.notMatch(second.stderr, /\n\s+at /)

  server.child.kill('SIGKILL')
  await new Promise((resolve) => server.child.once('exit', resolve))
  t.ok(existsSync(path.join(dir, 'pglite.lock')), 'the killed server left its lock behind')
  const disabled = admin('disable-user', 'newcomer@example.com')
  t.equal(disabled.status, 0, disabled.stderr)
  t.match(JSON.parse(disabled.stdout), { email: 'newcomer@example.com', state: 'DISABLED' })
  t.match(JSON.parse(admin('show-user', 'newcomer@example.com').stdout), { state: 'DISABLED' }, 'and it stayed written')
  t.notOk(existsSync(path.join(dir, 'pglite.lock')), 'released at exit')
})
