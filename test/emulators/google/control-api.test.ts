import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { test } from 'tap'
import { buildGoogleEmulator } from '../../../emulators/google/app.ts'
import { createClock } from '../../../emulators/google/state.ts'
import { DEFAULT_IOS_CLIENT, DEFAULT_WEB_CLIENT } from '../../../emulators/google/seeds.ts'
import { ALICE, WEB, consent, control, signIn, startEmulator } from './helpers.ts'

test('clients and users are added and updated over HTTP; identity follows sub, not email', async t => {
  const emulator = await startEmulator(t, { clients: [], users: [] })
  const client = await control(emulator, 'POST', '/clients', { id: WEB.id, secret: WEB.secret, redirectUris: WEB.redirectUris })
  t.equal(client.status, 200)
  t.match(client.body, { id: WEB.id, type: 'web', testing: false })
  const generated = await control(emulator, 'POST', '/clients', { id: 'gen.apps.googleusercontent.com' })
  t.match(generated.body.secret, /^GOCSPX-/, 'a web client without a secret gets one')

  const { body: user } = await control(emulator, 'POST', '/users', { email: 'dana@example.com', emailVerified: false })
  t.match(user, { email: 'dana@example.com', emailVerified: false, name: 'Dana Example', sub: /^1\d{20}$/ })
  const { tokens: first } = await signIn(emulator, { user: 'dana@example.com' })

  const renamed = await control(emulator, 'POST', '/users', { sub: user.sub, email: 'dana@new.example', emailVerified: true })
  t.equal(renamed.body.sub, user.sub)
  const { client: oauth, tokens: second } = await signIn(emulator, { user: user.sub })
  const a = (await oauth.verifyIdToken({ idToken: first.id_token ?? '', audience: WEB.id })).getPayload()
  const b = (await oauth.verifyIdToken({ idToken: second.id_token ?? '', audience: WEB.id })).getPayload()
  t.equal(a?.sub, b?.sub)
  t.same([a?.email, a?.email_verified, b?.email, b?.email_verified], ['dana@example.com', false, 'dana@new.example', true])

  const bad = await control(emulator, 'POST', '/users', { name: 'nobody' })
  t.equal(bad.status, 400)
  t.equal(bad.body.error, 'invalid_request')
  t.equal((await control(emulator, 'GET', '/users')).body.length, 1)
})

test('the clock: read and advance over HTTP, or share one with the app under test', async t => {
  const clock = createClock(Date.parse('2030-01-01T00:00:00Z'))
  const emulator = await startEmulator(t, { clock })
  t.same((await control(emulator, 'GET', '/clock')).body.iso, '2030-01-01T00:00:00.000Z')
  const { body } = await control(emulator, 'POST', '/clock/advance', { seconds: 90 })
  t.equal(body.iso, '2030-01-01T00:01:30.000Z')
  t.equal(clock.now(), Date.parse('2030-01-01T00:01:30Z'))
  await control(emulator, 'POST', '/clock/advance', { ms: 500 })
  t.equal(emulator.state.now(), Date.parse('2030-01-01T00:01:30.500Z'))
  t.equal((await control(emulator, 'POST', '/clock/advance', {})).status, 400)

  // A clock whose now() returns a Date (the app's ManualClock) works as well.
  let ms = Date.parse('2031-05-05T00:00:00Z')
  const dated = await startEmulator(t, { clock: { now: () => new Date(ms), advance: (d: number) => { ms += d } } })
  t.equal((await control(dated, 'GET', '/clock')).body.iso, '2031-05-05T00:00:00.000Z')
})

test('grants can be inspected, revoked, and everything reset', async t => {
  const emulator = await startEmulator(t)
  const { tokens } = await signIn(emulator)
  const { body: grants } = await control(emulator, 'GET', `/grants?user=${ALICE.email}&client_id=${WEB.id}`)
  t.equal(grants.length, 1)
  t.match(grants[0], { sub: ALICE.sub, email: ALICE.email, clientId: WEB.id, refreshTokenIssued: true, refreshTokens: [tokens.refresh_token], accessTokens: 1 })
  t.equal((await control(emulator, 'GET', '/grants?user=nobody@example.com')).status, 400)

  await consent(emulator)
  t.same((await control(emulator, 'POST', '/reset')).body, { ok: true })
  t.same((await control(emulator, 'GET', '/grants')).body, [])
  t.same((await control(emulator, 'GET', '/stats')).body, { requests: {}, grantTypes: {}, faultsInjected: 0 })
  const { body: state } = await control(emulator, 'GET', '/state')
  t.equal(state.users.length, 2, 'users and clients survive a reset')
  t.equal(state.kids.length, 1)
})

test('the control authorize endpoint applies the auth page\'s checks', async t => {
  const emulator = await startEmulator(t)
  const mismatch = await control(emulator, 'POST', '/authorize', { client_id: WEB.id, redirect_uri: 'https://evil.example/', user: ALICE.email, scope: 'openid' })
  t.equal(mismatch.status, 400)
  t.equal(mismatch.body.error, 'redirect_uri_mismatch')
  const unknownUser = await control(emulator, 'POST', '/authorize', { client_id: WEB.id, redirect_uri: WEB.redirectUris[0], user: 'eve@example.com', scope: 'openid' })
  t.equal(unknownUser.status, 400)
  const denied = await control(emulator, 'POST', '/authorize', { client_id: WEB.id, redirect_uri: WEB.redirectUris[0], user: ALICE.email, scope: 'openid', state: 'z', deny: true })
  t.equal(denied.body.redirect, `${WEB.redirectUris[0]}?state=z&error=access_denied`)
})

test('in-process use without listening (inject)', async t => {
  const app = buildGoogleEmulator({ clients: [WEB], users: [ALICE] })
  t.teardown(() => app.close())
  const certs = await app.inject({ url: '/oauth2/v3/certs' })
  t.equal(certs.statusCode, 200)
  t.equal(certs.json().keys[0].kid, app.googleEmulator.kids[0])
  const discovery = await app.inject({ url: '/.well-known/openid-configuration' })
  t.equal(discovery.json().issuer, 'https://accounts.google.com')
  t.equal((await app.inject({ url: '/nope' })).statusCode, 404)
})

test('dev mode CLI: seeds the documented defaults, honours env overrides, exits on SIGTERM', async t => {
  const main = fileURLToPath(new URL('../../../emulators/google/main.ts', import.meta.url))
  const child = spawn(process.execPath, ['--import', 'tsx', main], {
    env: { ...process.env, GOOGLE_EMULATOR_PORT: '0', GOOGLE_EMULATOR_CLIENT_SECRET: 'overridden', GOOGLE_EMULATOR_USERS: 'erin@example.com' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let output = ''
  child.stdout.setEncoding('utf8')
  const base = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: string) => {
      output += chunk
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (match?.[1] && output.includes('Control API')) resolve(match[1])
    })
    child.once('exit', code => reject(new Error(`exited with ${code}: ${output}`)))
  })
  t.match(output, DEFAULT_WEB_CLIENT.id)
  const state = await (await fetch(`${base}/__emulator/state`)).json() as { clients: Array<{ id: string, secret: string | null, redirectUris: string[] }>, users: Array<{ email: string, emailVerified: boolean }> }
  t.same(state.clients.map(c => [c.id, c.secret]), [[DEFAULT_WEB_CLIENT.id, 'overridden'], [DEFAULT_IOS_CLIENT.id, null]])
  t.same(state.clients[0]?.redirectUris, DEFAULT_WEB_CLIENT.redirectUris)
  t.same(state.users.map(u => u.email), ['alice@example.com', 'bob@example.com', 'carol@unverified.example', 'erin@example.com'])
  t.equal(state.users.filter(u => !u.emailVerified).length, 1, 'one user with an unverified email')
  child.kill('SIGTERM')
  const [code] = await once(child, 'exit')
  t.equal(code, 0)
})
