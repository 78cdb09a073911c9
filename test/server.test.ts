import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'tap'
import type { ResultOf, VariablesOf } from '@graphql-typed-document-node/core'
import type { TypedDocument } from './helper.ts'
import { freePort } from './support/free-port.ts'
import { LoginDocument, LogoutDocument, MeDocument, RefreshDocument, SignUpDocument } from './support/generated/graphql.ts'

// The whole flow over real HTTP against the real server process (src/server.ts), as a client sees it:
// signUp → login → me → refresh (rotation) → reuse detected → logout, for WEB (cookie) and NATIVE (body).

test('signUp → login → me → refresh → reuse → logout over HTTP', async (t) => {
  const port = await freePort()
  const dataDir = await mkdtemp(path.join(tmpdir(), 'inboxgate-server-'))
  const origin = `http://127.0.0.1:${port}`
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'warn', PUBLIC_ORIGINS: origin, REFRESH_REUSE_GRACE_SECONDS: '1' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += String(d) })
  child.stdout.resume()
  t.teardown(async () => {
    if (child.exitCode == null) child.kill('SIGKILL')
    await rm(dataDir, { recursive: true, force: true })
  })

  // PGlite's first start (initdb in WASM) can take several seconds on a busy machine: poll.
  const deadline = Date.now() + 90_000
  for (;;) {
    try {
      if ((await fetch(`${origin}/health`)).ok) break
    } catch {}
    if (Date.now() > deadline || child.exitCode != null) throw new Error(`server did not start: ${stderr}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }

  // The operations' text as the apps send it (the typed documents of schema/operations/), over fetch.
  const post = async <D extends TypedDocument>(document: D, variables: VariablesOf<D>, headers: Record<string, string> = {}) => {
    const res = await fetch(`${origin}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query: String(document), variables })
    })
    return { res, body: await res.json() as { data?: ResultOf<D> | null, errors?: Array<{ extensions: Record<string, unknown> }> } }
  }
  const cookieOf = (res: Response) => res.headers.getSetCookie().find((c) => c.startsWith('__Host-inboxgate_rt='))

  // NATIVE: tokens in the body.
  const email = `native${Date.now()}@example.com`
  const up = await post(SignUpDocument, { input: { email, password: 'correct horse battery', client: 'NATIVE' } })
  t.equal(up.body.errors, undefined)
  t.equal(cookieOf(up.res), undefined)
  const login = await post(LoginDocument, { input: { email, password: 'correct horse battery', client: 'NATIVE' } })
  const { accessToken, refreshToken } = login.body.data!.login
  const me = await post(MeDocument, {}, { authorization: `Bearer ${accessToken}` })
  t.equal(me.body.data?.me.email, email)
  const rotated = await post(RefreshDocument, { refreshToken, client: 'NATIVE' })
  t.not(rotated.body.data?.refresh.refreshToken, refreshToken, 'rotated')
  await new Promise((resolve) => setTimeout(resolve, 1500)) // past the 1 s grace window
  const reuse = await post(RefreshDocument, { refreshToken, client: 'NATIVE' })
  t.equal(reuse.body.errors?.[0]?.extensions.reason, 'REFRESH_TOKEN_REUSED', 'reuse detected')
  const dead = await post(RefreshDocument, { refreshToken: rotated.body.data?.refresh.refreshToken, client: 'NATIVE' })
  t.equal(dead.body.errors?.[0]?.extensions.code, 'UNAUTHENTICATED', 'family revoked')
  // The reuse ended the session: its access token is refused at once, not at its expiry.
  const out = await post(LogoutDocument, {}, { authorization: `Bearer ${rotated.body.data?.refresh.accessToken}` })
  t.match(out.body.errors?.[0]?.extensions, { code: 'UNAUTHENTICATED', reason: 'SESSION_REVOKED' }, 'the access token of a revoked family is refused at once')

  // WEB: the refresh token only in the cookie.
  const webEmail = `web${Date.now()}@example.com`
  const web = await post(SignUpDocument, { input: { email: webEmail, password: 'correct horse battery' } })
  t.equal(web.body.data?.signUp.refreshToken, null)
  const setCookie = cookieOf(web.res)
  t.match(setCookie, /HttpOnly/)
  t.match(setCookie, /Secure/)
  t.match(setCookie, /SameSite=Strict/)
  const cookie = setCookie!.split(';')[0]!
  const browser = { cookie, origin, 'x-mercurius-operation-name': 'Refresh' }
  const webRefresh = await post(RefreshDocument, {}, browser)
  t.equal(webRefresh.body.errors, undefined)
  const next = cookieOf(webRefresh.res)!.split(';')[0]!
  t.not(next, cookie, 'cookie rotated')
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const webReuse = await post(RefreshDocument, {}, browser)
  t.equal(webReuse.body.errors?.[0]?.extensions.reason, 'REFRESH_TOKEN_REUSED')
  const webDead = await post(LogoutDocument, {}, { authorization: `Bearer ${webRefresh.body.data?.refresh.accessToken}` })
  t.equal(webDead.body.errors?.[0]?.extensions.reason, 'SESSION_REVOKED', 'the reused family\'s access token is refused at once')
  // A live WEB session's logout clears the cookie.
  const webAgain = await post(LoginDocument, { input: { email: webEmail, password: 'correct horse battery' } })
  const webOut = await post(LogoutDocument, {}, { authorization: `Bearer ${webAgain.body.data?.login.accessToken}` })
  t.equal(webOut.body.data?.logout, true)
  t.match(cookieOf(webOut.res), /__Host-inboxgate_rt=;/, 'logout clears the cookie')

  child.kill('SIGTERM')
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  t.equal(code, 0, 'graceful shutdown on SIGTERM')
})
