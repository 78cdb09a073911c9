import { randomBytes } from 'node:crypto'
import { test } from 'tap'
import { buildTestApp, browserHeaders, COOKIE, gql, refreshCookie, signUp } from '../helper.ts'
import { MeDocument, RefreshDocument } from '../support/generated/graphql.ts'

// docs/security.md items 21, 23–27: error codes and masking, CSRF, CORS, GraphQL limits, production switch.

// Malformed, aliased, deep and introspection queries are strings on purpose: no client sends them.

test('every error carries extensions.code; parse and validation errors are told apart', async (t) => {
  const { app } = await buildTestApp(t)
  const parse = await gql(app, 'query { me { id ')
  t.equal(parse.errors?.[0]?.extensions.code, 'GRAPHQL_PARSE_FAILED')
  const unknownField = await gql(app, 'query { me { password } }')
  t.equal(unknownField.errors?.[0]?.extensions.code, 'GRAPHQL_VALIDATION_FAILED')
  const badVariable = await gql(app, 'mutation($input: LoginInput!) { login(input: $input) { accessToken } }', { input: { email: 1 } })
  t.equal(badVariable.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  const badJson = await app.inject({ method: 'POST', url: '/graphql', headers: { 'content-type': 'application/json' }, payload: '{"query": ' })
  t.equal(badJson.statusCode, 400)
  t.equal(badJson.json().errors[0].extensions.code, 'BAD_USER_INPUT')
})

test('unexpected errors are masked as INTERNAL and logged server-side only', async (t) => {
  const { app, logs } = await buildTestApp(t)
  const s = await signUp(app, 'NATIVE')
  // Break the database under the app: the error text (SQL, table names) must not reach the client.
  await app.prisma.$executeRawUnsafe('ALTER TABLE "sessions" RENAME TO "sessions_gone"')
  const res = await gql(app, RefreshDocument, { refreshToken: s.refreshToken, client: 'NATIVE' })
  await app.prisma.$executeRawUnsafe('ALTER TABLE "sessions_gone" RENAME TO "sessions"')
  t.equal(res.errors?.[0]?.extensions.code, 'INTERNAL')
  t.equal(res.errors?.[0]?.message, 'Internal server error')
  t.notMatch(JSON.stringify(res.errors), /sessions|relation|prisma/i)
  t.match(logs.join('\n'), /unexpected error in GraphQL request/)
  t.notOk(logs.join('\n').includes(s.refreshToken), 'the token is not in the log either')
})

test('aliases and batching are bounded', async (t) => {
  const { app } = await buildTestApp(t, { env: { GRAPHQL_MAX_ALIASES: '10' } })
  const s = await signUp(app, 'NATIVE')
  const aliases = Array.from({ length: 100 }, (_, i) => `l${i}: login(input: $input) { accessToken }`).join(' ')
  const bomb = await gql(app, `mutation($input: LoginInput!) { ${aliases} }`, { input: { email: s.email, password: 'x' } })
  t.equal(bomb.errors?.[0]?.extensions.code, 'GRAPHQL_VALIDATION_FAILED', '100 aliases refused')
  t.equal(await app.prisma.securityEvent.count({ where: { type: 'LOGIN_FAILED' } }), 0, 'before any login ran')

  const batch = await app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }])
  })
  t.equal(batch.statusCode, 400, 'batched queries are off')
  t.ok(batch.json().errors.every((e: any) => typeof e.extensions?.code === 'string'))
})

test('depth limit', async (t) => {
  const { app } = await buildTestApp(t, { env: { GRAPHQL_MAX_DEPTH: '2' } })
  const res = await gql(app, 'query { __schema { types { fields { type { name } } } } }')
  t.ok(res.errors?.length, 'deep query refused')
  t.ok(res.errors?.every((e) => typeof e.extensions.code === 'string'))
})

test('CSRF: the refresh cookie is only spent by JSON requests with the header, from an allowed origin', async (t) => {
  const { app } = await buildTestApp(t)
  const web = await signUp(app, 'WEB')
  const cookie = refreshCookie(web.response)!.value
  const cookies = { [COOKIE]: cookie }

  const noHeader = await gql(app, RefreshDocument, { client: 'WEB' }, { headers: { origin: browserHeaders.origin }, cookies })
  t.equal(noHeader.errors?.[0]?.extensions.code, 'FORBIDDEN', 'without the CSRF header')
  t.equal(noHeader.errors?.[0]?.extensions.reason, 'CSRF')
  const foreign = await gql(app, RefreshDocument, { client: 'WEB' }, { headers: { ...browserHeaders, origin: 'https://evil.example' }, cookies })
  t.equal(foreign.errors?.[0]?.extensions.code, 'FORBIDDEN', 'foreign origin')
  t.equal(foreign.errors?.[0]?.extensions.reason, 'ORIGIN_NOT_ALLOWED')
  t.match(foreign.errors?.[0]?.message, /"https:\/\/evil\.example", which is not in PUBLIC_ORIGINS/, 'the message names the origin that arrived')
  const noOrigin = await gql(app, RefreshDocument, { client: 'WEB' }, { headers: { 'x-mercurius-operation-name': 'Refresh' }, cookies })
  t.equal(noOrigin.errors?.[0]?.extensions.code, 'FORBIDDEN', 'no origin')
  t.equal(noOrigin.errors?.[0]?.extensions.reason, 'ORIGIN_NOT_ALLOWED')
  t.match(noOrigin.errors?.[0]?.message, /no Origin header/)

  // A cross-site HTML form can only send simple content types.
  const form = await app.inject({
    method: 'POST',
    url: '/graphql',
    cookies,
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
    payload: `query=${encodeURIComponent('mutation { refresh { accessToken } }')}`
  })
  t.equal(form.statusCode, 400)
  t.equal(form.json().errors[0].extensions.code, 'FORBIDDEN')
  t.equal(form.json().errors[0].extensions.reason, 'CSRF')
  const textPlain = await app.inject({
    method: 'POST',
    url: '/graphql',
    cookies,
    headers: { 'content-type': 'text/plain', origin: 'https://evil.example' },
    payload: JSON.stringify({ query: 'mutation { refresh { accessToken } }' })
  })
  t.ok(textPlain.statusCode >= 400)
  t.equal(refreshCookie(textPlain), undefined)

  // Mutations never run over GET.
  const get = await app.inject({
    method: 'GET',
    url: `/graphql?query=${encodeURIComponent('mutation { refresh { accessToken } }')}`,
    headers: { 'x-mercurius-operation-name': 'x' },
    cookies
  })
  t.ok(get.statusCode >= 400, 'mutation over GET refused')
  t.equal(refreshCookie(get), undefined)

  const ok = await gql(app, RefreshDocument, { client: 'WEB' }, { headers: browserHeaders, cookies })
  t.equal(ok.errors, undefined, 'our own page gets through')
  t.equal(await app.prisma.session.count({ where: { generation: { gt: 0 } } }), 1, 'only that one rotated')
})

test('CORS: credentials only for the exact allowlisted origins', async (t) => {
  const { app } = await buildTestApp(t, { env: { PUBLIC_ORIGINS: 'https://app.inboxgate.example' } })
  const preflight = (origin: string) => app.inject({
    method: 'OPTIONS',
    url: '/graphql',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' }
  })
  const good = await preflight('https://app.inboxgate.example')
  t.equal(good.headers['access-control-allow-origin'], 'https://app.inboxgate.example')
  t.equal(good.headers['access-control-allow-credentials'], 'true')
  for (const origin of ['https://evil.example', 'https://app.inboxgate.example.evil.example', 'null']) {
    const bad = await preflight(origin)
    t.equal(bad.headers['access-control-allow-origin'], undefined, origin)
  }
})

test('production switch: no GraphiQL, no introspection', async (t) => {
  const dev = await buildTestApp(t)
  const page = await dev.app.inject({ url: '/graphiql' })
  t.equal(page.statusCode, 200, 'GraphiQL in development')
  t.match(page.headers['content-security-policy'], /script-src 'self'/)
  t.notMatch(page.body, /https?:\/\/(?!127\.0\.0\.1|localhost)/, 'no script or style from another host')
  for (const src of page.body.matchAll(/(?:src|href)="(\/graphiql\/[^"]+)"/g)) {
    t.equal((await dev.app.inject({ url: src[1]! })).statusCode, 200, src[1]!)
  }
  t.equal((await dev.app.inject({ url: '/graphiql/assets/..%2Fpackage.json' })).statusCode, 404, 'only the listed files')
  const schema = await dev.app.inject({ url: '/graphiql/schema.json' })
  t.ok(schema.json().__schema.types.some((ty: { name: string }) => ty.name === 'GmailStatus'), 'the schema for GraphiQL')
  t.equal((await gql(dev.app, '{ __schema { queryType { name } } }')).errors, undefined)

  const prod = await buildTestApp(t, { env: { PRODUCTION: 'true', PUBLIC_URL: 'https://inboxgate.test', LOCAL_VAULT_KEY: randomBytes(32).toString('base64') } })
  t.equal((await prod.app.inject({ url: '/graphiql' })).statusCode, 404)
  t.equal((await prod.app.inject({ url: '/graphiql/schema.json' })).statusCode, 404)
  t.equal((await prod.app.inject({ url: '/graphiql/assets/graphiql.min.js' })).statusCode, 404)
  const intro = await gql(prod.app, '{ __schema { queryType { name } } }')
  t.equal(intro.errors?.[0]?.extensions.code, 'GRAPHQL_VALIDATION_FAILED')
  t.equal((await gql(prod.app, '{ __typename }')).errors, undefined, 'ordinary queries still run')
  const me = await gql(prod.app, MeDocument)
  t.equal(me.errors?.[0]?.extensions.code, 'UNAUTHENTICATED')
})

test('oversized bodies are refused with a clear error', async (t) => {
  const { app } = await buildTestApp(t)
  const big = await app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ query: '{ __typename }', variables: { pad: 'x'.repeat(1024 * 1024) } })
  })
  t.equal(big.statusCode, 413)
  t.equal(big.json().errors[0].extensions.code, 'BAD_USER_INPUT')
})
