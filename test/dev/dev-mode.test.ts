import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'tap'
import type { ResultOf, VariablesOf } from '@graphql-typed-document-node/core'
import { DEFAULT_IOS_CLIENT, DEFAULT_WEB_CLIENT } from '../../emulators/google/seeds.ts'
import type { TypedDocument } from '../helper.ts'
import { freePort } from '../support/free-port.ts'
import { ConnectGmailDocument, GmailProfileDocument, GmailStatusDocument, SignUpDocument } from '../support/generated/graphql.ts'

// `npm run dev` as a newcomer uses it (README.md, "Dev mode: Gmail without a Google account"): the real
// script in its own process, driven over HTTP only, Google played by the in-process emulator.

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
// What `npm run dev` runs (tsx scripts/dev.ts), without npm in between: npm does not pass a SIGTERM on to
// the script's processes, tsx does.
const TSX_CLI = createRequire(import.meta.url).resolve('tsx/cli')
const GMAIL_READONLY = 'https://www.googleapis.com/auth/gmail.readonly'

/** Resolves when `check` holds, checking whenever the child prints; rejects when it exits or time runs out. */
async function waitForOutput (child: ReturnType<typeof spawn>, output: () => string, check: (out: string) => boolean, ms: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no banner after ${ms} ms:\n${output()}`)), ms)
    const onData = () => { if (check(output())) done() }
    const onExit = (code: number | null) => done(new Error(`npm run dev exited with ${code}:\n${output()}`))
    const done = (err?: Error) => {
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      child.off('exit', onExit)
      if (err) reject(err)
      else resolve()
    }
    child.stdout?.on('data', onData)
    child.once('exit', onExit)
    onData()
  })
}

test('npm run dev: the README walkthrough over HTTP, then a clean stop on SIGTERM', async t => {
  const [port, googlePort, webPort] = [await freePort(), await freePort(), await freePort()]
  const dataDir = await mkdtemp(path.join(tmpdir(), 'inboxgate-dev-'))
  // Only dev mode's own defaults: nothing from the caller's environment (CI sets database and Google variables).
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) =>
    !/^(GOOGLE_|TOKEN_VAULT|LOCAL_VAULT_KEY$|DATABASE_URL$|PUBLIC_ORIGINS$|HOST$|PRODUCTION$|GMAIL_REFRESH_MARGIN_SECONDS$|JWT_)/.test(name)))
  const child = spawn(process.execPath, [TSX_CLI, 'scripts/dev.ts'], {
    cwd: ROOT,
    env: { ...inherited, PORT: String(port), GOOGLE_EMULATOR_PORT: String(googlePort), WEB_EXAMPLE_PORT: String(webPort), MAIL_EMULATOR_SMTP_PORT: '0', MAIL_EMULATOR_PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so the teardown can kill tsx and the node process it starts together.
    detached: true
  })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try { process.kill(-child.pid, 'SIGKILL') } catch {}
    }
    await rm(dataDir, { recursive: true, force: true })
  })

  // The first start creates the PGlite database (initdb in WASM): several seconds, more on a busy machine.
  await waitForOutput(child, () => output, out => out.includes('Ctrl-C stops'), 90_000)
  const server = `http://127.0.0.1:${port}`
  const google = `http://127.0.0.1:${googlePort}`
  t.match(output, `GraphiQL         ${server}/graphiql`)
  t.match(output, `Google emulator  ${google}`)
  t.match(output, 'live 420 s', 'dev mode\'s short-lived Gmail tokens')
  t.match(output, `Example web app  http://127.0.0.1:${webPort}`)

  // The example page knows where the API is, and Google sign-in starts at the emulator with this server's callback.
  const page = await (await fetch(`http://127.0.0.1:${webPort}/`)).text()
  t.match(page, `<meta name="inboxgate-api" content="${server}">`)
  const startGoogle = await fetch(`${server}/auth/google?redirectTo=${encodeURIComponent(`http://127.0.0.1:${webPort}/`)}`, { redirect: 'manual' })
  t.equal(startGoogle.status, 302)
  const consent = await fetch(startGoogle.headers.get('location')!)
  t.equal(consent.status, 200, 'the emulator accepts the redirect URI registered for this port')
  t.match(await consent.text(), 'id="consent-form"')

  let token = ''
  // The operations the iOS app sends (the typed documents of schema/operations/), as their text over fetch.
  const gql = async <D extends TypedDocument>(document: D, variables: VariablesOf<D>) => {
    const res = await fetch(`${server}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query: String(document), variables })
    })
    return await res.json() as { data?: ResultOf<D> | null, errors?: Array<{ message: string, extensions: { code: string } }> }
  }
  const emulator = async (route: string, body?: object) => {
    const res = await fetch(`${google}/__emulator${route}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    t.equal(res.status, 200, `emulator ${route}`)
    return await res.json() as any
  }

  // 1. An inboxgate account, as the iOS app would sign up.
  const signUp = await gql(SignUpDocument, { input: { email: 'newcomer@example.com', password: 'dev mode walkthrough', name: 'Newcomer', client: 'NATIVE' } })
  t.equal(signUp.errors, undefined)
  token = signUp.data?.signUp.accessToken ?? ''

  // 2. Google Sign-In on the phone, played by the emulator.
  const google1 = await emulator('/native-sign-in', { client_id: DEFAULT_IOS_CLIENT.id, user: 'alice@example.com', scopes: [GMAIL_READONLY] })
  t.match(google1, { accessToken: /^ya29\./, refreshToken: /^1\/\/0/, expiresIn: 420 })

  // 3. The server takes custody of the grant.
  const start = Date.now()
  const connected = await gql(ConnectGmailDocument, { input: { accessToken: google1.accessToken, refreshToken: google1.refreshToken } })
  const end = Date.now()
  t.equal(connected.errors, undefined)
  t.match(connected.data?.connectGmail, { status: { state: 'ACTIVE', googleEmail: 'alice@example.com', lastRefreshedAt: null }, warnings: [] })
  t.ok(connected.data?.connectGmail.status.grantedScopes.includes(GMAIL_READONLY))
  // Dated by the server from the refresh it made while connecting: 420 s after some instant of the request.
  const expiry = Date.parse(connected.data?.connectGmail.status.accessTokenExpiresAt ?? '')
  t.ok(expiry >= start + 415_000 && expiry <= end + 421_000, 'the held token lives 420 s, not Google\'s hour')

  // 4. Gmail answers with the held token.
  const profile = await gql(GmailProfileDocument, {})
  t.same(profile.errors, undefined)
  t.match(profile.data?.gmailProfile, { emailAddress: 'alice@example.com', messagesTotal: 1342, threadsTotal: 871 })

  // 5. Alice removes the app in her Google Account: Google pushes a tokens-revoked event (Cross-Account
  // Protection; dev mode registered the server), and the grant is deleted before any Gmail call.
  // Dev mode has Gmail push on: the new connection's users.watch (a Gmail call) comes at the watch job's next pass,
  // within WEBHOOK_POLL_INTERVAL_MS. Counted from after it, so the count below is the revocation's alone (on a busy
  // machine that pass fell inside the window).
  const watchDeadline = Date.now() + 10_000
  while (Object.keys(await emulator('/gmail/watches')).length === 0 && Date.now() < watchDeadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.equal(Object.keys(await emulator('/gmail/watches')).length, 1, 'the new connection is watched (Gmail push)')
  const before = await emulator('/stats')
  t.same(await emulator('/users/alice@example.com/revoke', {}), { revoked: 1 })
  const deadline = Date.now() + 1000
  let status = await gql(GmailStatusDocument, {})
  while (status.data?.gmailStatus.state !== 'RECONNECT_REQUIRED' && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    status = await gql(GmailStatusDocument, {})
  }
  t.match(status.data?.gmailStatus, { state: 'RECONNECT_REQUIRED', accessTokenExpiresAt: null }, 'within a second')
  const revoked = await gql(GmailProfileDocument, {})
  t.equal(revoked.errors?.[0]?.extensions.code, 'RECONNECT_REQUIRED')
  const after = await emulator('/stats')
  t.equal(after.requests.gmail - before.requests.gmail, 0, 'no Gmail call was needed')
  t.equal((after.grantTypes.refresh_token ?? 0) - (before.grantTypes.refresh_token ?? 0), 0, 'nor a refresh')

  // 6. Reconnecting with a serverAuthCode (GIDServerClientID = the server's web client).
  const google2 = await emulator('/native-sign-in', {
    client_id: DEFAULT_IOS_CLIENT.id, server_client_id: DEFAULT_WEB_CLIENT.id, user: 'alice@example.com', scopes: [GMAIL_READONLY]
  })
  const reconnected = await gql(ConnectGmailDocument, { input: { serverAuthCode: google2.serverAuthCode } })
  t.equal(reconnected.errors, undefined)
  t.match(reconnected.data?.connectGmail.status, { state: 'ACTIVE', googleEmail: 'alice@example.com' })
  t.match((await gql(GmailProfileDocument, {})).data, { gmailProfile: { emailAddress: 'alice@example.com' } })

  // 7. SIGTERM (as from a process manager; Ctrl-C sends SIGINT to the whole group): both close, exit 0.
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  child.kill('SIGTERM')
  const code = await Promise.race([exited, new Promise<'timeout'>(resolve => setTimeout(() => resolve('timeout'), 10_000).unref())])
  t.equal(code, 0, 'exits with 0 within 10 s')
  const closed = async (url: string) => await fetch(url).then(() => false, () => true)
  t.ok(await closed(`${server}/health`), 'the server is closed')
  t.ok(await closed(`${google}/`), 'the emulator is closed')
})
