import { test } from 'tap'
import { google } from 'googleapis'
import { buildGoogleEmulator } from '../../../emulators/google/app.ts'
import { MAX_REFRESH_TOKENS_PER_GRANT } from '../../../emulators/google/state.ts'
import {
  ALICE, BOB, GMAIL_READONLY, IOS, OTHER_WEB, WEB,
  consent, control, failure, oauthClient, signIn, startEmulator, tokenRequest
} from './helpers.ts'

const REVOKED = { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' }
const INVALID_TOKEN = { error: 'invalid_token', error_description: 'Invalid Value' }

test('refresh: a new access token, no refresh_token in the response, the library keeps its own', async t => {
  const emulator = await startEmulator(t)
  const { client, tokens } = await signIn(emulator)
  // The library hands res.data itself out as credentials (expires_in deleted, refresh_token copied in), so look
  // at the wire in the 'tokens' event, which fires before that mutation.
  const seen: string[][] = []
  client.on('tokens', fresh => seen.push(Object.keys(fresh)))
  const { credentials } = await client.refreshAccessToken()
  t.not(credentials.access_token, tokens.access_token)
  t.same(seen[0]?.sort(), ['access_token', 'expiry_date', 'id_token', 'scope', 'token_type'], 'no refresh_token on refresh')
  t.equal(credentials.refresh_token, tokens.refresh_token, 'the library keeps the one it had')

  const raw = await tokenRequest(emulator, { grant_type: 'refresh_token', client_id: WEB.id, client_secret: WEB.secret, refresh_token: tokens.refresh_token ?? '' })
  t.match(raw.body, { expires_in: 3599, token_type: 'Bearer', scope: tokens.scope })
  t.notOk('refresh_token' in raw.body)
  t.ok(raw.body.id_token, 'with openid, a refresh brings a fresh ID token')
  t.ok((await client.getTokenInfo(credentials.access_token ?? '')).sub)

  // An expired expiry_date makes getAccessToken refresh by itself.
  client.setCredentials({ ...client.credentials, expiry_date: Date.now() - 1 })
  const { token } = await client.getAccessToken()
  t.not(token, credentials.access_token)
  t.same(emulator.state.stats().grantTypes, { authorization_code: 1, refresh_token: 3 })
})

test('a refresh token only works for the client that minted it', async t => {
  const emulator = await startEmulator(t)
  const { tokens } = await signIn(emulator)
  const other = oauthClient(emulator, OTHER_WEB)
  other.setCredentials({ refresh_token: tokens.refresh_token })
  const wrongClient = await failure(other.refreshAccessToken())
  t.equal(wrongClient.status, 401)
  t.same(wrongClient.data, { error: 'unauthorized_client', error_description: 'Unauthorized' })

  const ios = oauthClient(emulator, IOS)
  ios.setCredentials({ refresh_token: tokens.refresh_token })
  t.equal((await failure(ios.refreshAccessToken())).data.error, 'unauthorized_client')
})

test('a public iOS client refreshes with its client id and no secret; the web client cannot', async t => {
  const emulator = await startEmulator(t)
  const { body: native } = await control(emulator, 'POST', '/native-sign-in', { client_id: IOS.id, user: ALICE.email, scopes: [GMAIL_READONLY] })
  const ios = oauthClient(emulator, IOS)
  ios.setCredentials({ refresh_token: native.refreshToken })
  const { credentials } = await ios.refreshAccessToken()
  t.match(credentials.access_token, /^ya29\./)
  const info = await ios.getTokenInfo(credentials.access_token ?? '')
  t.equal(info.aud, IOS.id)
  t.ok(info.scopes.includes(GMAIL_READONLY))

  const raw = await tokenRequest(emulator, { grant_type: 'refresh_token', client_id: IOS.id, refresh_token: native.refreshToken })
  t.equal(raw.status, 200, 'no client_secret field at all')

  const web = oauthClient(emulator, WEB)
  web.setCredentials({ refresh_token: native.refreshToken })
  const denied = await failure(web.refreshAccessToken())
  t.equal(denied.status, 401)
  t.equal(denied.data.error, 'unauthorized_client')
})

test('revoking any token ends the whole grant', async t => {
  const emulator = await startEmulator(t)
  const { client, tokens } = await signIn(emulator)
  const { credentials } = await client.refreshAccessToken()
  const revoked = await client.revokeToken(tokens.access_token ?? '')
  t.equal(revoked.status, 200)
  t.same(revoked.data, {})

  for (const accessToken of [tokens.access_token, credentials.access_token]) {
    const info = await failure(client.getTokenInfo(accessToken ?? ''))
    t.equal(info.status, 400)
    t.same(info.data, INVALID_TOKEN)
  }
  const refresh = await failure(client.refreshAccessToken())
  t.equal(refresh.status, 400)
  t.same(refresh.data, REVOKED)
  const again = await failure(client.revokeToken(tokens.refresh_token ?? ''))
  t.equal(again.status, 400)
  t.same(again.data, { error: 'invalid_token', error_description: 'Token expired or revoked' })
  t.same((await control(emulator, 'GET', `/grants?user=${ALICE.sub}`)).body, [])

  // Revoking with the refresh token works the same way (form body this time).
  const second = await signIn(emulator, { user: BOB.email })
  const response = await fetch(`${emulator.baseUrl}/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: second.tokens.refresh_token ?? '' })
  })
  t.equal(response.status, 200)
  t.equal((await failure(second.client.getTokenInfo(second.tokens.access_token ?? ''))).status, 400)
})

test('access tokens expire by the emulator clock; the refresh token outlives them', async t => {
  const emulator = await startEmulator(t)
  const { client, tokens } = await signIn(emulator)
  const accessToken = tokens.access_token ?? ''
  const gmail = google.gmail({ version: 'v1', auth: client, rootUrl: `${emulator.baseUrl}/` })
  t.equal((await gmail.users.getProfile({ userId: 'me' })).status, 200)

  emulator.state.advance(3598 * 1000)
  t.ok((await client.getTokenInfo(accessToken)).sub, 'still valid just before expires_in')
  emulator.state.advance(2000)
  t.same((await failure(client.getTokenInfo(accessToken))).data, INVALID_TOKEN)

  // The library's expiry_date runs on real time, so it still sends the dead token: Gmail answers 401.
  const expired = await failure(gmail.users.getProfile({ userId: 'me' }))
  t.equal(expired.status, 401)
  t.equal(expired.data.error.status, 'UNAUTHENTICATED')
  t.equal(expired.data.error.errors[0].reason, 'authError')
  t.equal(expired.headers?.get('www-authenticate'), 'Bearer realm="https://accounts.google.com/"')

  const userinfo = await fetch(`${emulator.baseUrl}/oauth2/v3/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } })
  t.equal(userinfo.status, 401)
  t.same(await userinfo.json(), { error: 'invalid_request', error_description: 'Invalid Credentials' })

  await client.refreshAccessToken()
  t.equal((await gmail.users.getProfile({ userId: 'me' })).status, 200, 'a refreshed token works again')
})

test('tokeninfo: Google\'s string-typed shape, by Bearer, query or form; ID tokens too', async t => {
  const emulator = await startEmulator(t)
  const { tokens } = await signIn(emulator)
  const accessToken = tokens.access_token ?? ''
  const byQuery = await fetch(`${emulator.baseUrl}/tokeninfo?access_token=${encodeURIComponent(accessToken)}`)
  const info = await byQuery.json() as Record<string, unknown>
  t.same(Object.keys(info).sort(), ['access_type', 'aud', 'azp', 'email', 'email_verified', 'exp', 'expires_in', 'scope', 'sub'])
  t.match(info, { azp: WEB.id, aud: WEB.id, sub: ALICE.sub, email: ALICE.email, email_verified: 'true', access_type: 'offline' })
  t.type(info.exp, 'string')
  t.type(info.expires_in, 'string')
  t.ok(Number(info.expires_in) > 3590)

  const byForm = await fetch(`${emulator.baseUrl}/tokeninfo`, { method: 'POST', body: new URLSearchParams({ access_token: accessToken }) })
  t.same(await byForm.json(), info)

  const id = await (await fetch(`${emulator.baseUrl}/tokeninfo?id_token=${tokens.id_token}`)).json() as Record<string, string>
  t.match(id, { iss: 'https://accounts.google.com', aud: WEB.id, sub: ALICE.sub, email_verified: 'true', alg: 'RS256', typ: 'JWT' })
  t.type(id.exp, 'string')

  const bad = await fetch(`${emulator.baseUrl}/tokeninfo?access_token=ya29.nope`)
  t.equal(bad.status, 400)
  t.same(await bad.json(), INVALID_TOKEN)

  // Without the email scope, tokeninfo has no email.
  const { tokens: gmailOnly } = await signIn(emulator, { user: BOB.email, scope: [GMAIL_READONLY] })
  const bare = await (await fetch(`${emulator.baseUrl}/tokeninfo?access_token=${gmailOnly.access_token}`)).json() as Record<string, unknown>
  t.notOk('email' in bare)
  t.equal(bare.scope, GMAIL_READONLY)
})

test(`past ${MAX_REFRESH_TOKENS_PER_GRANT} live refresh tokens per user and client, the oldest dies`, async t => {
  const emulator = await startEmulator(t)
  const refreshTokens: string[] = []
  for (let i = 0; i <= MAX_REFRESH_TOKENS_PER_GRANT; i++) {
    const { code } = await consent(emulator, { prompt: 'consent', scope: ['openid'] })
    const { body } = await tokenRequest(emulator, {
      grant_type: 'authorization_code', code, client_id: WEB.id, client_secret: WEB.secret, redirect_uri: WEB.redirectUris[0] ?? ''
    })
    refreshTokens.push(body.refresh_token)
  }
  // Another client's tokens for the same user do not count against this one.
  const other = await signIn(emulator, { client: OTHER_WEB })
  const refresh = (token: string | undefined) => tokenRequest(emulator, { grant_type: 'refresh_token', client_id: WEB.id, client_secret: WEB.secret, refresh_token: token ?? '' })
  t.same((await refresh(refreshTokens[0])).body, REVOKED, 'the 101st evicted the first')
  t.equal((await refresh(refreshTokens[1])).status, 200)
  t.equal((await refresh(refreshTokens.at(-1))).status, 200)
  const [grant] = emulator.state.grantsOf({ user: ALICE.email, clientId: WEB.id })
  t.equal(grant?.refreshTokens.length, MAX_REFRESH_TOKENS_PER_GRANT)
  other.client.setCredentials({ refresh_token: other.tokens.refresh_token })
  t.ok((await other.client.refreshAccessToken()).credentials.access_token)
})

test('apps in Testing status: refresh tokens die after 7 days', async t => {
  const emulator = await startEmulator(t, { clients: [{ ...WEB, testing: true }] })
  const { client, tokens } = await signIn(emulator)
  const { body } = await control(emulator, 'GET', '/grants')
  t.equal(body.length, 1)
  const raw = await tokenRequest(emulator, {
    grant_type: 'authorization_code',
    code: (await consent(emulator, { prompt: 'consent' })).code,
    client_id: WEB.id,
    client_secret: WEB.secret,
    redirect_uri: WEB.redirectUris[0] ?? ''
  })
  t.equal(raw.body.refresh_token_expires_in, 604799, 'Google announces the limited lifetime')
  t.ok(tokens.refresh_token)
  emulator.state.advance(7 * 86_400_000 - 60_000)
  t.ok((await client.refreshAccessToken()).credentials.access_token, 'fine on day 7')
  emulator.state.advance(120_000)
  t.same((await failure(client.refreshAccessToken())).data, REVOKED)
})

test('a refresh token unused for six months expires', async t => {
  const emulator = await startEmulator(t)
  const { client } = await signIn(emulator)
  emulator.state.advance(150 * 86_400_000)
  await client.refreshAccessToken()
  emulator.state.advance(150 * 86_400_000)
  t.ok((await client.refreshAccessToken()).credentials.access_token, 'use resets the clock')
  emulator.state.advance(200 * 86_400_000)
  t.same((await failure(client.refreshAccessToken())).data, REVOKED)
})

test('a password change kills refresh tokens with Gmail scopes only; access tokens live on', async t => {
  const emulator = await startEmulator(t)
  const withGmail = await signIn(emulator)
  const signInOnly = await signIn(emulator, { client: OTHER_WEB, scope: ['openid', 'email'] })
  const { status, body } = await control(emulator, 'POST', `/users/${ALICE.email}/password-change`)
  t.equal(status, 200)
  t.same(body, { refreshTokensRevoked: 1 })
  t.same((await failure(withGmail.client.refreshAccessToken())).data, REVOKED)
  t.ok((await withGmail.client.getTokenInfo(withGmail.tokens.access_token ?? '')).sub, 'the access token still works')
  t.ok((await signInOnly.client.refreshAccessToken()).credentials.access_token)
})

test('the user removes the app in their Google Account', async t => {
  const emulator = await startEmulator(t)
  const web = await signIn(emulator)
  const other = await signIn(emulator, { client: OTHER_WEB })
  const { body } = await control(emulator, 'POST', `/users/${ALICE.sub}/revoke`, { client_id: WEB.id })
  t.same(body, { revoked: 1 })
  t.same((await failure(web.client.refreshAccessToken())).data, REVOKED)
  t.equal((await failure(web.client.getTokenInfo(web.tokens.access_token ?? ''))).status, 400)
  t.ok((await other.client.refreshAccessToken()).credentials.access_token, 'other apps keep access')
  t.same((await control(emulator, 'POST', `/users/${ALICE.sub}/revoke`, {})).body, { revoked: 1 }, 'no client_id: every app')
  t.same(emulator.state.grantsOf({ user: ALICE.sub }), [])
})

test('accessTokenTtlSeconds: shorter-lived access tokens everywhere one is issued (dev mode)', async t => {
  const emulator = await startEmulator(t, { accessTokenTtlSeconds: 420 })
  const { client, tokens } = await signIn(emulator)
  const raw = await tokenRequest(emulator, { grant_type: 'refresh_token', client_id: WEB.id, client_secret: WEB.secret, refresh_token: tokens.refresh_token ?? '' })
  t.equal(raw.body.expires_in, 420, 'refresh response')
  const expiry = tokens.expiry_date ?? 0
  t.ok(expiry > Date.now() + 400_000 && expiry <= Date.now() + 420_000, 'code exchange: the library dates expiry_date from expires_in')
  const native = await control(emulator, 'POST', '/native-sign-in', { client_id: IOS.id, user: ALICE.email, scopes: [GMAIL_READONLY] })
  t.equal(native.body.expiresIn, 420, 'native sign-in')
  const info = await client.getTokenInfo(raw.body.access_token)
  t.ok(info.expiry_date <= Date.now() + 420_000, 'tokeninfo agrees')

  // The token dies by the emulator clock after 420 s, where Google's would live on to 3599 s.
  emulator.state.advance(419_000)
  t.ok((await client.getTokenInfo(raw.body.access_token)).sub, 'still valid at 419 s')
  emulator.state.advance(2000)
  t.same((await failure(client.getTokenInfo(raw.body.access_token))).data, INVALID_TOKEN)

  t.throws(() => buildGoogleEmulator({ accessTokenTtlSeconds: 0 }), RangeError)
})
