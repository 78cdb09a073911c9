import { createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto'
import { test } from 'tap'
import { google } from 'googleapis'
import { selfSignedCertificate } from '../../../emulators/google/certificate.ts'
import {
  ALICE, BOB, GMAIL_READONLY, IOS, OTHER_WEB, USERINFO_EMAIL, WEB,
  control, failure, oauthClient, signIn, startEmulator
} from './helpers.ts'

test('verifyIdToken: PEM certs, kid, issuer, audience and nonce', async t => {
  const emulator = await startEmulator(t)
  const { client, tokens } = await signIn(emulator, { nonce: 'nonce-123' })
  const idToken = tokens.id_token ?? ''
  const payload = (await client.verifyIdToken({ idToken, audience: WEB.id })).getPayload()
  t.match(payload, {
    iss: 'https://accounts.google.com',
    aud: WEB.id,
    azp: WEB.id,
    sub: ALICE.sub,
    email: ALICE.email,
    email_verified: true,
    nonce: 'nonce-123',
    name: ALICE.name,
    given_name: 'Alice',
    family_name: 'Liddell'
  })
  t.equal((payload?.exp ?? 0) - (payload?.iat ?? 0), 3600)
  t.ok((await client.verifyIdToken({ idToken, audience: [OTHER_WEB.id, WEB.id] })).getPayload(), 'an audience list works')

  t.match((await failure(client.verifyIdToken({ idToken, audience: OTHER_WEB.id }))).message, /Wrong recipient/)
  const strict = oauthClient(emulator, WEB, { issuers: ['https://issuer.example'] })
  t.match((await failure(strict.verifyIdToken({ idToken, audience: WEB.id }))).message, /Invalid issuer/)
  const tampered = idToken.replace(/\.([^.]+)\./, (_, p: string) => `.${Buffer.from(JSON.stringify({ ...payload, sub: BOB.sub })).toString('base64url')}.`)
  t.not(tampered, idToken)
  t.match((await failure(client.verifyIdToken({ idToken: tampered, audience: WEB.id }))).message, /Invalid token signature/)
})

test('certs: X.509 PEM by kid and the same key as JWK, both cacheable', async t => {
  const emulator = await startEmulator(t, { certsMaxAgeSeconds: 1234 })
  const pem = await fetch(`${emulator.baseUrl}/oauth2/v1/certs`)
  const jwk = await fetch(`${emulator.baseUrl}/oauth2/v3/certs`)
  t.match(pem.headers.get('cache-control'), /public, max-age=1234/)
  t.match(jwk.headers.get('cache-control'), /public, max-age=1234/)
  const certs = await pem.json() as Record<string, string>
  const { keys } = await jwk.json() as { keys: Array<Record<string, string>> }
  const [kid] = Object.keys(certs)
  t.equal(keys.length, 1)
  t.match(keys[0], { kid, kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB' })
  const certificate = new X509Certificate(certs[kid ?? ''] ?? '')
  t.ok(certificate.verify(certificate.publicKey), 'self-signed')
  t.ok(certificate.publicKey.equals(createPublicKey({ key: keys[0] as never, format: 'jwk' })))
})

test('key rotation: new kid signs, the old stays published until removed', async t => {
  const emulator = await startEmulator(t)
  const { tokens: before } = await signIn(emulator)
  const { body: rotated } = await control(emulator, 'POST', '/keys/rotate')
  t.equal(rotated.kids.length, 2)
  const { tokens: after } = await signIn(emulator, { user: BOB.email })
  const header = (jwt: string | null | undefined) => JSON.parse(Buffer.from(jwt?.split('.')[0] ?? '', 'base64url').toString()).kid
  t.equal(header(after.id_token), rotated.kid)
  t.not(header(before.id_token), rotated.kid)

  // google-auth-library caches certs per client for max-age, so each check uses a fresh client.
  t.ok(await oauthClient(emulator).verifyIdToken({ idToken: before.id_token ?? '', audience: WEB.id }))
  t.ok(await oauthClient(emulator).verifyIdToken({ idToken: after.id_token ?? '', audience: WEB.id }))
  t.equal((await control(emulator, 'DELETE', `/keys/${header(before.id_token)}`)).status, 200)
  t.match((await failure(oauthClient(emulator).verifyIdToken({ idToken: before.id_token ?? '', audience: WEB.id }))).message, /No pem found/)
  t.ok(await oauthClient(emulator).verifyIdToken({ idToken: after.id_token ?? '', audience: WEB.id }))
  t.equal((await control(emulator, 'DELETE', `/keys/${rotated.kid}`)).status, 400, 'the last key stays')
})

test('native sign-in with a server client id: ID token for the server, serverAuthCode exchanged with no redirect_uri', async t => {
  const emulator = await startEmulator(t)
  const { status, body: native } = await control(emulator, 'POST', '/native-sign-in', {
    client_id: IOS.id, user: ALICE.email, scopes: [GMAIL_READONLY], server_client_id: WEB.id, nonce: 'ios-nonce'
  })
  t.equal(status, 200)
  t.match(native, { accessToken: /^ya29\./, refreshToken: /^1\/\/0/, serverAuthCode: /^4\/0/, expiresIn: 3599 })
  t.same(native.grantedScopes.sort(), ['openid', USERINFO_EMAIL, 'https://www.googleapis.com/auth/userinfo.profile', GMAIL_READONLY].sort())

  // The server verifies the ID token against its own (web) client id.
  const server = oauthClient(emulator, { ...WEB, redirectUris: [] })
  const payload = (await server.verifyIdToken({ idToken: native.idToken, audience: WEB.id })).getPayload()
  t.match(payload, { aud: WEB.id, azp: IOS.id, sub: ALICE.sub, nonce: 'ios-nonce' })

  const { tokens } = await server.getToken({ code: native.serverAuthCode })
  t.ok(tokens.refresh_token, 'offline access for the server')
  t.ok(tokens.scope?.split(' ').includes(GMAIL_READONLY))
  server.setCredentials(tokens)
  t.equal((await server.getTokenInfo(tokens.access_token ?? '')).aud, WEB.id)
  const gmail = google.gmail({ version: 'v1', auth: server, rootUrl: `${emulator.baseUrl}/` })
  t.equal((await gmail.users.getProfile({ userId: 'me' })).data.emailAddress, ALICE.email)

  const { body: again } = await control(emulator, 'POST', '/native-sign-in', { client_id: IOS.id, user: ALICE.email, server_client_id: WEB.id })
  const withRedirect = await failure(oauthClient(emulator).getToken({ code: again.serverAuthCode }))
  t.equal(withRedirect.status, 400)
  t.equal(withRedirect.data.error, 'redirect_uri_mismatch', 'a serverAuthCode is exchanged without redirect_uri')
  const secondExchange = await server.getToken({ code: again.serverAuthCode })
  t.notOk(secondExchange.tokens.refresh_token, 'only the first exchange carries a refresh token')
})

test('native sign-in without a server client id: ID token for the iOS app, no serverAuthCode', async t => {
  const emulator = await startEmulator(t)
  const { body: native } = await control(emulator, 'POST', '/native-sign-in', { client_id: IOS.id, user: BOB.sub })
  t.notOk('serverAuthCode' in native)
  const payload = (await oauthClient(emulator, IOS).verifyIdToken({ idToken: native.idToken, audience: IOS.id })).getPayload()
  t.match(payload, { aud: IOS.id, azp: IOS.id, sub: BOB.sub })
  t.match((await failure(oauthClient(emulator).verifyIdToken({ idToken: native.idToken, audience: WEB.id }))).message, /Wrong recipient/)

  const webClient = await control(emulator, 'POST', '/native-sign-in', { client_id: WEB.id, user: BOB.sub })
  t.equal(webClient.status, 400, 'native sign-in needs an iOS or Android client')
})

test('userinfo v3 and v2 (googleapis), following the granted scopes', async t => {
  const emulator = await startEmulator(t)
  const { client, tokens } = await signIn(emulator)
  const v3 = await (await fetch(`${emulator.baseUrl}/oauth2/v3/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).json() as Record<string, unknown>
  t.same(v3, {
    sub: ALICE.sub, name: ALICE.name, given_name: 'Alice', family_name: 'Liddell', picture: v3.picture, email: ALICE.email, email_verified: true, locale: 'en'
  })
  t.match(v3.picture, /^https:\/\//)

  const oauth2 = google.oauth2({ version: 'v2', auth: client, rootUrl: `${emulator.baseUrl}/` })
  const { data: v2 } = await oauth2.userinfo.get()
  t.match(v2, { id: ALICE.sub, email: ALICE.email, verified_email: true, name: ALICE.name })

  const { tokens: emailOnly } = await signIn(emulator, { user: BOB.email, scope: ['openid', 'email'] })
  const bare = await (await fetch(`${emulator.baseUrl}/oauth2/v3/userinfo`, { headers: { authorization: `Bearer ${emailOnly.access_token}` } })).json()
  t.same(bare, { sub: BOB.sub, email: BOB.email, email_verified: true }, 'no profile fields without the profile scope')

  const anonymous = google.oauth2({ version: 'v2', rootUrl: `${emulator.baseUrl}/` })
  const denied = await failure(anonymous.userinfo.get({ oauth_token: 'ya29.nope' } as never))
  t.equal(denied.status, 401)
})

test('gmail users.getProfile: me, own email, someone else\'s', async t => {
  const emulator = await startEmulator(t)
  const { client } = await signIn(emulator)
  const gmail = google.gmail({ version: 'v1', auth: client, rootUrl: `${emulator.baseUrl}/` })
  const { data } = await gmail.users.getProfile({ userId: 'me' })
  t.same(data, { emailAddress: ALICE.email, messagesTotal: 42, threadsTotal: 7, historyId: '9876' })
  t.same((await gmail.users.getProfile({ userId: ALICE.email.toUpperCase() })).data, data)
  const other = await failure(gmail.users.getProfile({ userId: BOB.email }))
  t.equal(other.status, 403)
  t.equal(other.data.error.status, 'PERMISSION_DENIED')
  t.match(other.data.error.message, /Delegation denied/)

  const noToken = await fetch(`${emulator.baseUrl}/gmail/v1/users/me/profile`)
  t.equal(noToken.status, 401)
})

test('self-signed certificates always parse (a random serial must still be minimal DER)', async t => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 })
  let parsed = 0
  for (let i = 0; i < 2000; i++) {
    const pem = selfSignedCertificate(privateKey, publicKey, 'federated-signon.system.gserviceaccount.com', new Date(), new Date(Date.now() + 86_400_000))
    if (new X509Certificate(pem).publicKey.equals(publicKey)) parsed++
  }
  t.equal(parsed, 2000)
})
