import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'tap'
import { startGoogleEmulator } from '../../../emulators/google/app.ts'
import { ALICE, WEB, control, failure, oauthClient, signIn, startEmulator, tokenRequest } from './helpers.ts'

const REVOKED = { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' }

test('two 503s on the token endpoint, then success: google-auth-library retries with backoff', async t => {
  const emulator = await startEmulator(t)
  const { client } = await signIn(emulator)
  emulator.state.resetStats()
  const { status } = await control(emulator, 'POST', '/faults', { endpoint: 'token', kind: 'http5xx', status: 503, times: 2 })
  t.equal(status, 200)
  const started = Date.now()
  const { credentials } = await client.refreshAccessToken()
  t.ok(credentials.access_token)
  t.ok(Date.now() - started >= 550, 'backoff of ~100 ms then ~500 ms')
  t.same(emulator.state.stats(), { requests: { token: 3 }, grantTypes: { refresh_token: 3 }, faultsInjected: 2 })
  t.same((await control(emulator, 'GET', '/faults')).body, [], 'a counted fault clears itself')
})

test('a lasting 500 fails after the library\'s 3 retries; the body is Google\'s', async t => {
  const emulator = await startEmulator(t)
  const { client, tokens } = await signIn(emulator)
  emulator.state.resetStats()
  emulator.state.addFault({ endpoint: 'tokeninfo', kind: 'http5xx', status: 500 })
  const failed = await failure(client.getTokenInfo(tokens.access_token ?? ''))
  t.equal(failed.status, 500)
  t.same(failed.data, { error: { code: 500, message: 'Internal error encountered.', status: 'INTERNAL' } })
  t.equal(emulator.state.stats().requests.tokeninfo, 4)
  t.equal((await control(emulator, 'DELETE', '/faults')).status, 200)
  t.ok((await client.getTokenInfo(tokens.access_token ?? '')).sub)
})

test('invalid_grant fault: only refresh_token grants, and the token is not really revoked', async t => {
  const emulator = await startEmulator(t)
  emulator.state.addFault({ endpoint: 'token', kind: 'invalid_grant', times: 1 })
  const { client } = await signIn(emulator)
  t.ok(client.credentials.refresh_token, 'the code exchange went through')
  const refused = await failure(client.refreshAccessToken())
  t.equal(refused.status, 400)
  t.same(refused.data, REVOKED)
  t.ok((await client.refreshAccessToken()).credentials.access_token)
})

test('timeout fault: the request hangs; the library times out, retries, and gets through', async t => {
  const emulator = await startEmulator(t)
  const { tokens } = await signIn(emulator)
  const client = oauthClient(emulator, WEB, { transporterOptions: { timeout: 800 } })
  client.setCredentials({ refresh_token: tokens.refresh_token })
  emulator.state.resetStats()

  emulator.state.addFault({ endpoint: 'token', kind: 'timeout', times: 1, delayMs: 10_000 })
  const started = Date.now()
  t.ok((await client.refreshAccessToken()).credentials.access_token)
  t.ok(Date.now() - started >= 800)
  t.equal(emulator.state.stats().requests.token, 2)

  emulator.state.addFault({ endpoint: 'token', kind: 'timeout', delayMs: 60_000 })
  const hung = await failure(client.refreshAccessToken())
  t.equal(hung.status, undefined, 'no response at all')
  t.match(hung.message, /timeout|aborted/i)
  emulator.state.clearFaults()
  t.ok((await client.refreshAccessToken()).credentials.access_token, 'the refresh token survived the outage')
})

test('a short timeout delay is plain latency', async t => {
  const emulator = await startEmulator(t)
  emulator.state.addFault({ endpoint: 'certs', kind: 'timeout', delayMs: 200 })
  const started = Date.now()
  const response = await fetch(`${emulator.baseUrl}/oauth2/v1/certs`)
  t.equal(response.status, 200)
  t.ok(Date.now() - started >= 190)
})

test('delay fault: a slow Google; set through the control API, also in front of an invalid_grant', async t => {
  const emulator = await startEmulator(t)
  const { tokens } = await signIn(emulator)
  const form = { grant_type: 'refresh_token', client_id: WEB.id, client_secret: WEB.secret, refresh_token: tokens.refresh_token ?? '' }
  const added = await control(emulator, 'POST', '/faults', { endpoint: 'token', kind: 'delay', delayMs: 300, times: 1 })
  t.equal(added.status, 200)
  t.equal(added.body.delayMs, 300)
  let started = Date.now()
  const slow = await tokenRequest(emulator, form)
  t.equal(slow.status, 200, 'answered normally')
  t.ok(slow.body.access_token)
  t.ok(Date.now() - started >= 290, `after the delay (${Date.now() - started} ms)`)
  started = Date.now()
  t.equal((await tokenRequest(emulator, form)).status, 200)
  t.ok(Date.now() - started < 290, 'times: 1 applied once')
  t.equal(emulator.state.addFault({ endpoint: 'token', kind: 'delay' }).delayMs, 1000, 'default 1 s')
  emulator.state.clearFaults()

  emulator.state.addFault({ endpoint: 'token', kind: 'invalid_grant', delayMs: 300, times: 1 })
  started = Date.now()
  const refused = await tokenRequest(emulator, form)
  t.same(refused.body, REVOKED, 'a slow invalid_grant')
  t.ok(Date.now() - started >= 290)
  t.equal(emulator.state.addFault({ endpoint: 'token', kind: 'http5xx' }).delayMs, 0, 'errors come at once by default')
})

test('held requests do not keep close() waiting', async t => {
  const emulator = await startGoogleEmulator({ users: [ALICE] })
  emulator.state.addFault({ endpoint: '*', kind: 'timeout' })
  const pending = fetch(`${emulator.baseUrl}/gmail/v1/users/me/profile`).then(() => 'answered', () => 'dropped')
  while (!emulator.state.stats().requests.gmail) await sleep(10)
  const started = Date.now()
  await emulator.close()
  t.ok(Date.now() - started < 5000, 'closed long before the 30 s hold')
  t.equal(await pending, 'dropped')
})

test('faults by endpoint and wildcard; times counts down', async t => {
  const emulator = await startEmulator(t)
  const { tokens } = await signIn(emulator)
  await control(emulator, 'POST', '/faults', { endpoint: '*', kind: 'http5xx', times: 1 })
  const gmail = await fetch(`${emulator.baseUrl}/gmail/v1/users/me/profile`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
  t.equal(gmail.status, 503)
  t.same(await gmail.json(), { error: { code: 503, message: 'The service is currently unavailable.', status: 'UNAVAILABLE' } })
  const again = await fetch(`${emulator.baseUrl}/gmail/v1/users/me/profile`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
  t.equal(again.status, 200)

  // invalid_grant never hits code exchanges or other endpoints.
  await control(emulator, 'POST', '/faults', { endpoint: '*', kind: 'invalid_grant' })
  t.equal((await fetch(`${emulator.baseUrl}/tokeninfo?access_token=${tokens.access_token}`)).status, 200)
  const refresh = await tokenRequest(emulator, { grant_type: 'refresh_token', client_id: WEB.id, client_secret: WEB.secret, refresh_token: tokens.refresh_token ?? '' })
  t.same(refresh.body, REVOKED)
  t.equal((await control(emulator, 'DELETE', '/faults?endpoint=*')).body.length, 0)

  const invalid = await control(emulator, 'POST', '/faults', { endpoint: 'smtp', kind: 'http5xx' })
  t.equal(invalid.status, 400)
  t.equal(invalid.body.error, 'invalid_request')
})

test('stats count Google calls per endpoint and grant type', async t => {
  const emulator = await startEmulator(t)
  const { client, tokens } = await signIn(emulator)
  await client.refreshAccessToken()
  await client.getTokenInfo(tokens.access_token ?? '')
  await client.verifyIdToken({ idToken: tokens.id_token ?? '', audience: WEB.id })
  await control(emulator, 'GET', '/grants')
  const { body } = await control(emulator, 'GET', '/stats')
  t.same(body, { requests: { token: 2, tokeninfo: 1, certs: 1 }, grantTypes: { authorization_code: 1, refresh_token: 1 }, faultsInjected: 0 }, 'control calls are not counted')
  t.same((await control(emulator, 'POST', '/reset-stats')).body, { requests: {}, grantTypes: {}, faultsInjected: 0 })
})
