import { test } from 'tap'
import { google } from 'googleapis'
import type { RunningGoogleEmulator } from '../../../emulators/google/app.ts'
import {
  ALICE, BOB, EXPANDED, GMAIL_READONLY, IOS, SCOPES, USERINFO_EMAIL, USERINFO_PROFILE, WEB,
  consent, control, failure, oauthClient, pkce, signIn, startEmulator, tokenRequest
} from './helpers.ts'

const unescape = (s: string) => s.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))

/** What a browser does with the consent page: keep the hidden fields, pick an account and scopes, press a button. */
async function submitConsent (emulator: RunningGoogleEmulator, html: string, choice: { account?: string, scopes?: string[], action: 'allow' | 'deny' }) {
  const form = new URLSearchParams()
  for (const [, name = '', value = ''] of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) form.append(name, unescape(value))
  if (choice.account) form.append('account', choice.account)
  for (const scope of choice.scopes ?? []) form.append('scope', scope)
  form.append('action', choice.action)
  const response = await fetch(`${emulator.baseUrl}/o/oauth2/v2/auth/consent`, { method: 'POST', body: form, redirect: 'manual' })
  return { status: response.status, location: new URL(response.headers.get('location') ?? 'about:blank') }
}

async function authPage (url: string) {
  const response = await fetch(url, { headers: { accept: 'text/html' }, redirect: 'manual' })
  return { status: response.status, html: await response.text(), location: response.headers.get('location') }
}

test('the consent page offers accounts and scopes with stable selectors', async t => {
  const emulator = await startEmulator(t)
  const client = oauthClient(emulator)
  const url = client.generateAuthUrl({ scope: SCOPES, access_type: 'offline', state: 'abc', login_hint: BOB.email })
  const { status, html } = await authPage(url)
  t.equal(status, 200)
  t.match(html, `id="account-${ALICE.sub}" value="${ALICE.sub}" required>`)
  t.match(html, `id="account-${BOB.sub}" value="${BOB.sub}" required checked>`, 'login_hint preselects the account')
  t.match(html, `name="scope" id="scope-3" value="${GMAIL_READONLY}" checked>`, 'gmail.readonly can be unticked')
  t.match(html, `value="${USERINFO_EMAIL}" checked disabled>`, 'sign-in scopes cannot')
  t.match(html, 'id="allow"')
  t.match(html, 'id="deny"')
  t.match(html, 'Test web app')
})

test('browser consent → code → getToken with PKCE; the code is single use', async t => {
  const emulator = await startEmulator(t)
  const client = oauthClient(emulator)
  const { codeVerifier, codeChallenge } = await client.generateCodeVerifierAsync()
  const url = client.generateAuthUrl({
    scope: SCOPES, access_type: 'offline', state: 'xyz', code_challenge: codeChallenge, code_challenge_method: 'S256' as never, nonce: 'n-0S6'
  })
  const { html } = await authPage(url)
  const { status, location } = await submitConsent(emulator, html, { account: ALICE.sub, scopes: [GMAIL_READONLY], action: 'allow' })
  t.equal(status, 302)
  t.equal(`${location.origin}${location.pathname}`, WEB.redirectUris[0])
  t.equal(location.searchParams.get('state'), 'xyz')
  t.same(location.searchParams.get('scope')?.split(' ').sort(), [...EXPANDED].sort(), 'scopes come back expanded')
  const code = location.searchParams.get('code') ?? ''
  t.match(code, /^4\/0/)

  const { tokens } = await client.getToken({ code, codeVerifier })
  t.match(tokens.access_token, /^ya29\./)
  t.match(tokens.refresh_token, /^1\/\/0/, 'first offline consent carries a refresh token')
  t.type(tokens.expiry_date, 'number')
  t.equal(tokens.token_type, 'Bearer')
  t.same(tokens.scope?.split(' ').sort(), [...EXPANDED].sort())
  const ticket = await client.verifyIdToken({ idToken: tokens.id_token ?? '', audience: WEB.id })
  t.equal(ticket.getPayload()?.nonce, 'n-0S6')

  const again = await failure(client.getToken({ code, codeVerifier }))
  t.equal(again.status, 400)
  t.same(again.data, { error: 'invalid_grant', error_description: 'Bad Request' })
})

test('Cancel sends the user back with access_denied', async t => {
  const emulator = await startEmulator(t)
  const url = oauthClient(emulator).generateAuthUrl({ scope: SCOPES, state: 's1' })
  const { html } = await authPage(url)
  const { status, location } = await submitConsent(emulator, html, { account: ALICE.sub, action: 'deny' })
  t.equal(status, 302)
  t.equal(location.searchParams.get('error'), 'access_denied')
  t.equal(location.searchParams.get('state'), 's1')
  t.equal(location.searchParams.get('code'), null)
})

test('granular consent: unticking gmail.readonly still signs in, without Gmail', async t => {
  const emulator = await startEmulator(t)
  const client = oauthClient(emulator)
  const { codeVerifier, codeChallenge } = pkce()
  const url = client.generateAuthUrl({
    scope: SCOPES, access_type: 'offline', code_challenge: codeChallenge, code_challenge_method: 'S256' as never
  })
  const { html } = await authPage(url)
  const { location } = await submitConsent(emulator, html, { account: ALICE.sub, scopes: [], action: 'allow' })
  const granted = location.searchParams.get('scope')?.split(' ') ?? []
  t.notOk(granted.includes(GMAIL_READONLY))
  t.ok(granted.includes(USERINFO_EMAIL) && granted.includes(USERINFO_PROFILE) && granted.includes('openid'), 'sign-in scopes are always granted')

  const { tokens } = await client.getToken({ code: location.searchParams.get('code') ?? '', codeVerifier })
  t.notOk(tokens.scope?.split(' ').includes(GMAIL_READONLY))
  client.setCredentials(tokens)
  const info = await client.getTokenInfo(tokens.access_token ?? '')
  t.notOk(info.scopes.includes(GMAIL_READONLY))

  const gmail = google.gmail({ version: 'v1', auth: client, rootUrl: `${emulator.baseUrl}/` })
  const denied = await failure(gmail.users.getProfile({ userId: 'me' }))
  t.equal(denied.status, 403)
  t.equal(denied.data.error.status, 'PERMISSION_DENIED')
  t.equal(denied.data.error.message, 'Request had insufficient authentication scopes.')
  t.equal(denied.data.error.errors[0].reason, 'insufficientPermissions')
  t.match(denied.headers?.get('www-authenticate'), /^Bearer realm="https:\/\/accounts\.google\.com\/", error="insufficient_scope", scope=".*gmail\.readonly/)
})

test('PKCE: missing and wrong verifiers fail without burning the code; a verifier without a challenge fails', async t => {
  const emulator = await startEmulator(t)
  const client = oauthClient(emulator)
  const { codeVerifier, codeChallenge } = pkce()
  const { code } = await consent(emulator, { codeChallenge })

  const missing = await failure(client.getToken({ code }))
  t.equal(missing.status, 400)
  t.same(missing.data, { error: 'invalid_grant', error_description: 'Missing code verifier.' })
  const wrong = await failure(client.getToken({ code, codeVerifier: pkce().codeVerifier }))
  t.same(wrong.data, { error: 'invalid_grant', error_description: 'Invalid code verifier.' })
  t.ok((await client.getToken({ code, codeVerifier })).tokens.access_token)

  const plain = await consent(emulator)
  const unneeded = await failure(client.getToken({ code: plain.code, codeVerifier }))
  t.same(unneeded.data, { error: 'invalid_grant', error_description: 'code_verifier or verifier is not needed.' })
  t.ok((await client.getToken({ code: plain.code })).tokens.access_token, 'without PKCE on both sides it works')
})

test('the auth endpoint refuses unknown clients, unregistered redirects and plain PKCE without redirecting', async t => {
  const emulator = await startEmulator(t)
  const base = `${emulator.baseUrl}/o/oauth2/v2/auth`
  const query = (extra: Record<string, string>) => `${base}?${new URLSearchParams({
    client_id: WEB.id, redirect_uri: WEB.redirectUris[0] ?? '', response_type: 'code', scope: 'openid email', ...extra
  })}`

  const unknown = await fetch(query({ client_id: 'nope.apps.googleusercontent.com' }), { redirect: 'manual' })
  t.equal(unknown.status, 401)
  t.same(await unknown.json(), { error: 'invalid_client', error_description: 'The OAuth client was not found.' })
  const unknownPage = await authPage(query({ client_id: 'nope.apps.googleusercontent.com' }))
  t.equal(unknownPage.status, 401)
  t.match(unknownPage.html, '<span id="error-code">invalid_client</span>')

  const mismatch = await authPage(query({ redirect_uri: 'https://evil.example/callback' }))
  t.equal(mismatch.status, 400)
  t.equal(mismatch.location, null, 'never redirects to an unregistered URI')
  t.match(mismatch.html, 'redirect_uri_mismatch')

  const plain = await fetch(query({ code_challenge: pkce().codeChallenge, code_challenge_method: 'plain' }), { redirect: 'manual' })
  t.equal(plain.status, 400)
  t.equal((await plain.json() as { error: string }).error, 'invalid_request')

  const badScope = await fetch(query({ scope: 'openid https://evil.example/scope' }), { redirect: 'manual' })
  t.equal(badScope.status, 400)
  t.equal((await badScope.json() as { error: string }).error, 'invalid_scope')
  for (const scope of ['openid constructor', 'openid __proto__']) {
    const objectKey = await fetch(query({ scope }), { redirect: 'manual' })
    t.equal(objectKey.status, 400, `${scope}: a scope, not a key of Object`)
    t.equal((await objectKey.json() as { error: string }).error, 'invalid_scope')
  }
})

test('the token endpoint authenticates the client and checks the code', async t => {
  const emulator = await startEmulator(t)
  const { code } = await consent(emulator)

  const unknown = await failure(oauthClient(emulator, { ...WEB, id: 'nope.apps.googleusercontent.com' }).getToken({ code }))
  t.equal(unknown.status, 401)
  t.same(unknown.data, { error: 'invalid_client', error_description: 'The OAuth client was not found.' })

  const wrongSecret = await failure(oauthClient(emulator, { ...WEB, secret: 'wrong' }).getToken({ code }))
  t.equal(wrongSecret.status, 401)
  t.same(wrongSecret.data, { error: 'invalid_client', error_description: 'Unauthorized' })

  const noSecret = await failure(oauthClient(emulator, { ...WEB, secret: null }).getToken({ code }))
  t.same(noSecret.data, { error: 'invalid_client', error_description: 'Unauthorized' })

  const noClient = await tokenRequest(emulator, { grant_type: 'authorization_code', code, redirect_uri: WEB.redirectUris[0] ?? '' })
  t.equal(noClient.status, 400)
  t.equal(noClient.body.error, 'invalid_request')

  const otherRedirect = await failure(oauthClient(emulator).getToken({ code, redirect_uri: 'http://localhost:4999/auth/google/callback' }))
  t.equal(otherRedirect.status, 400)
  t.equal(otherRedirect.data.error, 'redirect_uri_mismatch')

  const malformed = await failure(oauthClient(emulator).getToken({ code: '4/0Anot-a-real-code' }))
  t.same(malformed.data, { error: 'invalid_grant', error_description: 'Malformed auth code.' })

  const grantType = await tokenRequest(emulator, { grant_type: 'password', client_id: WEB.id, client_secret: WEB.secret })
  t.equal(grantType.body.error, 'unsupported_grant_type')

  // Codes live about ten minutes.
  emulator.state.advance(11 * 60_000)
  const expired = await failure(oauthClient(emulator).getToken({ code }))
  t.same(expired.data, { error: 'invalid_grant', error_description: 'Bad Request' })
})

test('client_secret_basic works as well as client_secret_post', async t => {
  const emulator = await startEmulator(t)
  const { code } = await consent(emulator)
  const client = oauthClient(emulator, WEB, { clientAuthentication: 'ClientSecretBasic' as never })
  t.ok((await client.getToken({ code })).tokens.access_token)
})

test('a refresh token comes with the first offline consent, with prompt=consent, and never online', async t => {
  const emulator = await startEmulator(t)
  const first = await signIn(emulator)
  t.ok(first.tokens.refresh_token)
  const second = await signIn(emulator)
  t.notOk(second.tokens.refresh_token, 'a repeat consent gets no new refresh token')
  const forced = await signIn(emulator, { prompt: 'consent' })
  t.ok(forced.tokens.refresh_token, 'prompt=consent mints another')
  const online = await signIn(emulator, { user: BOB.email, accessType: 'online' })
  t.notOk(online.tokens.refresh_token)
  const info = await online.client.getTokenInfo(online.tokens.access_token ?? '')
  t.equal(info.access_type, 'online')
  const noOpenid = await signIn(emulator, { user: BOB.email, scope: [GMAIL_READONLY], accessType: 'offline' })
  t.notOk(noOpenid.tokens.id_token, 'no ID token without openid')
  t.ok(noOpenid.tokens.refresh_token, 'first offline consent of Bob')
})

test('incremental consent: include_granted_scopes=true returns the union of the grant', async t => {
  const emulator = await startEmulator(t)
  await signIn(emulator, { scope: ['openid', 'email'] })
  const narrow = await consent(emulator, { scope: [GMAIL_READONLY] })
  t.same(narrow.scope.split(' '), [GMAIL_READONLY], 'without it, only what was asked now')
  const union = await consent(emulator, { scope: [GMAIL_READONLY], includeGrantedScopes: true })
  t.same(union.scope.split(' ').sort(), ['openid', GMAIL_READONLY, USERINFO_EMAIL].sort())
  const { body: grants } = await control(emulator, 'GET', `/grants?user=${ALICE.email}`)
  t.same(grants[0].scopes.sort(), ['openid', GMAIL_READONLY, USERINFO_EMAIL].sort())
})

test('prompt=none answers without UI when the grant covers the request', async t => {
  const emulator = await startEmulator(t)
  const client = oauthClient(emulator)
  const before = await authPage(client.generateAuthUrl({ scope: SCOPES, prompt: 'none', login_hint: ALICE.email }))
  t.equal(before.status, 302)
  t.equal(new URL(before.location ?? '').searchParams.get('error'), 'consent_required')
  await signIn(emulator)
  const after = await authPage(client.generateAuthUrl({ scope: SCOPES, prompt: 'none', login_hint: ALICE.email, state: 'q' }))
  const location = new URL(after.location ?? '')
  t.ok(location.searchParams.get('code'))
  t.equal(location.searchParams.get('state'), 'q')
})

test('an iOS client may use its custom-scheme redirect', async t => {
  const emulator = await startEmulator(t)
  const client = oauthClient(emulator, IOS)
  const { codeVerifier, codeChallenge } = pkce()
  const { code, redirect } = await consent(emulator, { client: IOS, codeChallenge })
  t.match(redirect, /^com\.googleusercontent\.apps\.ios:\/oauth2redirect\?/)
  const { tokens } = await client.getToken({ code, codeVerifier })
  t.ok(tokens.refresh_token, 'public client, no secret')
})
