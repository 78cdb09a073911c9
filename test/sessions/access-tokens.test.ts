import { createHmac, createPublicKey, generateKeyPairSync, hkdfSync, randomBytes } from 'node:crypto'
import { createDecoder, createSigner } from 'fast-jwt'
import type { FastifyInstance } from 'fastify'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { test } from 'tap'
import { runAdminCommand } from '../../src/admin/commands.ts'
import { ManualClock } from '../../src/clock.ts'
import { decodeKey, loadConfig } from '../../src/config.ts'
import { openCompact } from '../../src/crypto/sealing.ts'
import { SigningKeys } from '../../src/signing-keys/signing-keys.ts'
import { buildTestApp, gql, signUp } from '../helper.ts'
import { LogoutDocument, MeDocument, RevokeSessionDocument, SessionsDocument } from '../support/generated/graphql.ts'

// docs/security.md items 7–10: algorithm allowlist, registered claims, explicit typing, keys from our own store;
// and the asymmetric keys: JWKS, discovery, rotation, sealed storage, the HS256 upgrade window.

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
function hs256 (header: object, payload: object, key: Buffer): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`
}

/** The key our server signs with now (tests may read it; the server never hands it out). */
async function signingKey (app: FastifyInstance) {
  const snapshot = await app.signingKeys.load()
  return { kid: snapshot.current.kid, pem: snapshot.current.privatePem }
}

test('access tokens: ES256 with a kid, claims, type and lifetime', async (t) => {
  const { app } = await buildTestApp(t)
  const s = await signUp(app, 'NATIVE')
  const { header, payload } = createDecoder({ complete: true })(s.accessToken)
  t.equal(header.alg, 'ES256')
  t.equal(header.typ, 'at+jwt')
  t.equal(header.kid, (await signingKey(app)).kid)
  t.match(payload, { sub: s.user.id, sid: s.sessionId, email: s.email, name: 'Test User', iss: app.config.PUBLIC_URL, aud: 'inboxgate-api' })
  t.equal(payload.exp - payload.iat, 900)
})

test('forged and foreign tokens are refused', async (t) => {
  const { app } = await buildTestApp(t)
  const s = await signUp(app, 'NATIVE')
  const { kid, pem } = await signingKey(app)
  const secret = app.config.jwtKeys.current.key
  const now = Math.floor(Date.now() / 1000)
  const iss = app.config.PUBLIC_URL
  const claims = { sub: s.user.id, sid: s.sessionId, email: s.email, name: null, iss, aud: 'inboxgate-api', iat: now, exp: now + 600 }
  const header = { alg: 'ES256', typ: 'at+jwt', kid }
  const es256 = (h: object, c: object, key = pem) => createSigner({ key, algorithm: 'ES256', header: { ...header, ...h } })(c)

  const valid = es256({}, claims)
  t.equal((await gql(app, MeDocument, {}, { token: valid })).errors, undefined, 'control: a well-formed token works')

  const jwks = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json<{ keys: object[] }>()
  const publicPem = createPublicKey({ key: jwks.keys[0] as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
  const hsHeader = { alg: 'HS256', typ: 'at+jwt', kid }
  const cases: Array<[string, string]> = [
    ['alg none', `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${b64(claims)}.`],
    ['ES256 signed by someone else under our kid', es256({}, claims, other)],
    // HS/ES confusion: HMAC keyed with the public key anyone can fetch from the JWKS, as PEM and as JSON.
    ['HS256 keyed with our published public key (PEM)', hs256(hsHeader, claims, Buffer.from(publicPem))],
    ['HS256 keyed with our published public key (JWK)', hs256(hsHeader, claims, Buffer.from(JSON.stringify(jwks.keys[0])))],
    ['HS256 with JWT_SECRET under our ES kid', hs256(hsHeader, claims, secret)],
    // A new deployment never had HS256 tokens: JWT_SECRET no longer signs anything it accepts.
    ['HS256 with JWT_SECRET under its own kid', hs256({ ...hsHeader, kid: app.config.jwtKeys.current.kid }, claims, secret)],
    ['wrong issuer', es256({}, { ...claims, iss: 'someone-else' })],
    ['the former default issuer', es256({}, { ...claims, iss: 'inboxgate' })],
    ['missing issuer', es256({}, { ...claims, iss: undefined })],
    ['wrong audience', es256({}, { ...claims, aud: 'another-api' })],
    ['missing audience', es256({}, { ...claims, aud: undefined })],
    ['expired beyond the skew', es256({}, { ...claims, iat: now - 1000, exp: now - 31 })],
    ['missing exp', es256({}, { ...claims, exp: undefined })],
    ['not yet valid (nbf)', es256({}, { ...claims, nbf: now + 120 })],
    ['no typ (a generic JWT)', createSigner({ key: pem, algorithm: 'ES256', kid })(claims)],
    ['typ of an ID token', es256({ typ: 'JWT' }, claims)],
    ['missing session id', es256({}, { ...claims, sid: undefined })],
    ['unknown kid', es256({ kid: 'not-a-key-of-ours' }, claims, other)],
    ['no kid', hs256({ alg: 'ES256', typ: 'at+jwt' }, claims, secret)],
    ['kid from a jku we would have to fetch', es256({ kid: 'attacker', jku: 'https://attacker.example/jwks' }, claims, other)],
    ['embedded jwk', es256({ kid: 'attacker', jwk: createPublicKey(other).export({ format: 'jwk' }) }, claims, other)],
    ['tampered payload', `${valid.split('.')[0]}.${b64({ ...claims, sub: '00000000-0000-0000-0000-000000000000' })}.${valid.split('.')[2]}`],
    ['a refresh token', s.refreshToken]
  ]
  for (const [name, token] of cases) {
    const res = await gql(app, MeDocument, {}, { token })
    t.equal(res.errors?.[0]?.extensions.code, 'UNAUTHENTICATED', name)
    t.equal(res.data, null, `${name}: no data`)
  }

  // Within the allowed skew (30 s) a just-expired token still passes: clocks differ a little.
  t.equal((await gql(app, MeDocument, {}, { token: es256({}, { ...claims, iat: now - 1000, exp: now - 5 }) })).errors, undefined)
  const expired = await gql(app, MeDocument, {}, { token: es256({}, { ...claims, iat: now - 1000, exp: now - 100 }) })
  t.equal(expired.errors?.[0]?.extensions.reason, 'ACCESS_TOKEN_EXPIRED', 'clients learn to refresh')
})

test('JWKS and discovery publish public keys only; an outside verifier needs nothing else', async (t) => {
  const { app } = await buildTestApp(t)
  const s = await signUp(app, 'NATIVE')
  const jwksRes = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
  t.equal(jwksRes.statusCode, 200)
  const { keys } = jwksRes.json<{ keys: Array<Record<string, string>> }>()
  t.equal(keys.length, 1)
  for (const key of keys) t.same(Object.keys(key).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'], 'public members only (no d)')
  const row = await app.prisma.signingKey.findFirstOrThrow()
  const { pem } = await signingKey(app)
  t.notOk(jwksRes.body.includes(row.privateKeySealed), 'not the sealed key either')
  t.notOk(row.privateKeySealed.includes('PRIVATE KEY'), 'the private key is stored sealed')
  t.notOk(JSON.stringify(row).includes(pem.split('\n')[1]!), 'no part of the PEM in the row')

  const discovery = (await app.inject({ method: 'GET', url: '/.well-known/openid-configuration' })).json<Record<string, unknown>>()
  t.equal(discovery.issuer, app.config.PUBLIC_URL)
  t.equal(discovery.jwks_uri, `${app.config.PUBLIC_URL}/.well-known/jwks.json`)

  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  const verified = await jwtVerify(s.accessToken, createRemoteJWKSet(new URL(`${address}/.well-known/jwks.json`)), {
    issuer: app.config.PUBLIC_URL, audience: 'inboxgate-api', typ: 'at+jwt', algorithms: ['ES256']
  })
  t.equal(verified.payload.sub, s.user.id, 'jose, given only the JWKS URL, accepts our token')
})

test('rotate-signing-key: the new key signs, the old verifies until its tokens expired, then is retired everywhere', async (t) => {
  const clock = new ManualClock()
  const { app, logs } = await buildTestApp(t, { clock })
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  const jwksUrl = new URL(`${address}/.well-known/jwks.json`)
  const outside = (token: string) => jwtVerify(token, createRemoteJWKSet(jwksUrl), { issuer: app.config.PUBLIC_URL, audience: 'inboxgate-api', algorithms: ['ES256'] })

  const before = await signUp(app, 'NATIVE')
  const oldKid = createDecoder({ complete: true })(before.accessToken).header.kid
  const rotated = await runAdminCommand(app, ['rotate-signing-key']) as { kid: string, retired: Array<{ kid: string, verifyUntil: Date }> }
  t.not(rotated.kid, oldKid)
  t.same(rotated.retired.map((r) => r.kid), [oldKid])
  const graceMs = rotated.retired[0]!.verifyUntil.getTime() - clock.now().getTime()
  t.ok(graceMs >= 930_000, `the old key verifies for at least one access-token lifetime plus the skew (${graceMs} ms)`)

  // Within the minute, this process (like any other) picks up the new key by itself.
  clock.advance(61_000)
  for (let i = 0; i < 100 && !app.accessTokens.publicKeys().some((k) => k.kid === rotated.kid); i++) await new Promise((resolve) => setTimeout(resolve, 20))
  const after = await signUp(app, 'NATIVE')
  t.equal(createDecoder({ complete: true })(after.accessToken).header.kid, rotated.kid, 'the new key signs')
  t.same((await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json<{ keys: Array<{ kid: string }> }>().keys.map((k) => k.kid).sort(), [oldKid, rotated.kid].sort(), 'both published meanwhile')
  t.equal((await gql(app, MeDocument, {}, { token: before.accessToken })).errors, undefined, 'nobody is signed out: the old token still works')
  t.equal((await outside(before.accessToken)).payload.sub, before.user.id, 'and outside verifiers accept it too')
  t.equal((await outside(after.accessToken)).payload.sub, after.user.id)

  clock.advance(graceMs)
  const jwks = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json<{ keys: Array<{ kid: string }> }>()
  t.same(jwks.keys.map((k) => k.kid), [rotated.kid], 'the retired key is no longer published')
  // Still unexpired by the wall clock: refused because its key is retired, not because it expired.
  const refused = await gql(app, MeDocument, {}, { token: before.accessToken })
  t.equal(refused.errors?.[0]?.extensions.reason, 'ACCESS_TOKEN_INVALID', 'nor accepted by us')
  await t.rejects(outside(before.accessToken), { code: 'ERR_JWKS_NO_MATCHING_KEY' }, 'nor by an outside verifier using only the JWKS')
  t.equal((await outside(after.accessToken)).payload.sub, after.user.id)

  // The next rotation deletes the retired key, private half included.
  const again = await runAdminCommand(app, ['rotate-signing-key']) as { deleted: number }
  t.equal(again.deleted, 1)
  t.equal(await app.prisma.signingKey.count({ where: { kid: oldKid } }), 0)
  const pem = (await signingKey(app)).pem.split('\n')[1]!
  t.notOk(logs.some((l) => l.includes(pem)), 'no private key in the logs')
})

test('another process rotated: a token with a kid we do not hold yet re-reads the keys (bounded)', async (t) => {
  const clock = new ManualClock()
  const { app } = await buildTestApp(t, { clock })
  const s = await signUp(app, 'NATIVE')
  // As `npm run admin -- rotate-signing-key` elsewhere would: the database changes, this process is not told.
  const { kid } = await app.signingKeys.rotate()
  t.not(createDecoder({ complete: true })(s.accessToken).header.kid, kid, 'this process still signs with the key in hand')
  const { pem } = await signingKey(app)
  const now = Math.floor(clock.now().getTime() / 1000)
  const token = createSigner({ key: pem, algorithm: 'ES256', kid, iss: app.config.PUBLIC_URL, aud: 'inboxgate-api', header: { alg: 'ES256', typ: 'at+jwt' } })({ sub: s.user.id, sid: s.sessionId, email: s.email, iat: now, exp: now + 600 })
  t.equal((await gql(app, MeDocument, {}, { token })).errors, undefined, 'a token from a process that already has the new key is accepted')
  const next = await signUp(app, 'NATIVE')
  t.equal(createDecoder({ complete: true })(next.accessToken).header.kid, kid, 'and this process now signs with it')

  // Unknown kids re-read at most every 5 s: a flood of forged kids costs one query per period, not one per request.
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const forged = (k: string) => createSigner({ key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, algorithm: 'ES256', kid: k, header: { alg: 'ES256', typ: 'at+jwt' } })({ sub: s.user.id })
  let reads = 0
  const load = app.signingKeys.load.bind(app.signingKeys)
  app.signingKeys.load = async () => { reads++; return await load() }
  clock.advance(5_000) // the re-read above was one: the next may come after 5 s
  for (let i = 0; i < 20; i++) await gql(app, MeDocument, {}, { token: forged(`forged-${i}`) })
  t.equal(reads, 1, 'twenty unknown kids, one re-read')
})

test('upgrade from HS256: tokens signed with JWT_SECRET before the switch work for one access-token lifetime', async (t) => {
  const clock = new ManualClock()
  const { app } = await buildTestApp(t, { clock })
  const s = await signUp(app, 'NATIVE')
  // The deployment as it was before this version: sessions, no signing key yet, HS256 tokens with iss `inboxgate`.
  await app.prisma.signingKey.deleteMany()
  await app.accessTokens.load()
  const now = Math.floor(clock.now().getTime() / 1000)
  const legacy = hs256({ alg: 'HS256', typ: 'at+jwt', kid: app.config.jwtKeys.current.kid },
    { sub: s.user.id, sid: s.sessionId, email: s.email, name: null, iss: 'inboxgate', aud: 'inboxgate-api', iat: now, exp: now + 900 }, app.config.jwtKeys.current.key)
  t.equal((await gql(app, MeDocument, {}, { token: legacy })).errors, undefined, 'an HS256 token of before the upgrade is accepted')
  t.equal(createDecoder({ complete: true })((await signUp(app, 'NATIVE')).accessToken).header.alg, 'ES256', 'new tokens are ES256')
  t.notOk((await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).body.includes(app.config.jwtKeys.current.kid), 'JWT_SECRET is never published')
  clock.advance(931_000)
  const after = await gql(app, MeDocument, {}, { token: legacy })
  t.equal(after.errors?.[0]?.extensions.reason, 'ACCESS_TOKEN_INVALID', 'after one lifetime plus the skew, HS256 is refused')
  // A restart does not reopen the window.
  await app.accessTokens.load()
  t.equal((await gql(app, MeDocument, {}, { token: legacy })).errors?.[0]?.extensions.reason, 'ACCESS_TOKEN_INVALID')
})

test('signing keys are sealed under JWT_SECRET: a previous secret still opens them, another does not', async (t) => {
  const oldSecret = randomBytes(32).toString('base64url')
  const newSecret = randomBytes(32).toString('base64url')
  const clock = new ManualClock()
  const { app } = await buildTestApp(t, { clock, env: { JWT_SECRET: oldSecret } })
  const { kid, pem } = await signingKey(app)
  const row = await app.prisma.signingKey.findUniqueOrThrow({ where: { kid } })
  const hkdf = (s: string) => Buffer.from(hkdfSync('sha256', decodeKey('k', s), Buffer.alloc(0), 'inboxgate signing-key seal v1', 32))
  t.equal(openCompact(hkdf(oldSecret), row.privateKeySealed, kid), pem)
  t.throws(() => openCompact(hkdf(newSecret), row.privateKeySealed, kid), 'another secret does not open it')
  t.throws(() => openCompact(hkdf(oldSecret), row.privateKeySealed, 'another-kid'), 'nor on another row')

  const rotatedSecrets = new SigningKeys({ prisma: app.prisma, clock, secrets: (await loadConfig({ JWT_SECRET: newSecret, JWT_PREVIOUS_SECRETS: oldSecret })).jwtKeys, accessTokenTtlSeconds: 900, clockSkewSeconds: 30 })
  t.equal((await rotatedSecrets.load()).current.privatePem, pem, 'JWT_SECRET moved to JWT_PREVIOUS_SECRETS: still readable')
  await rotatedSecrets.rotate()
  const resealed = await app.prisma.signingKey.findUniqueOrThrow({ where: { kid } })
  t.equal(openCompact(hkdf(newSecret), resealed.privateKeySealed, kid), pem, 'the rotation resealed it under the current secret')
  const forgotten = new SigningKeys({ prisma: app.prisma, clock, secrets: (await loadConfig({ JWT_SECRET: randomBytes(32).toString('base64url') })).jwtKeys, accessTokenTtlSeconds: 900, clockSkewSeconds: 30 })
  await t.rejects(forgotten.load(), /no longer configured/, 'without the secret, the server refuses to start rather than sign with a new key')
})

test('me and sessions need a bearer token and take no user id', async (t) => {
  const { app } = await buildTestApp(t)
  for (const q of [MeDocument, SessionsDocument, LogoutDocument, RevokeSessionDocument].map(String)) {
    const res = await gql(app, q, { id: 'x' })
    t.equal(res.errors?.[0]?.extensions.code, 'UNAUTHENTICATED', q)
  }
  const bad = await gql(app, MeDocument, {}, { headers: { authorization: 'Basic Zm9vOmJhcg==' } })
  t.equal(bad.errors?.[0]?.extensions.code, 'UNAUTHENTICATED')
  // A query no client of ours sends: a string, on purpose.
  const withArg = await gql(app, 'query { me(id: "someone") { id } }')
  t.equal(withArg.errors?.[0]?.extensions.code, 'GRAPHQL_VALIDATION_FAILED', 'there is no argument to pick a user')
})
