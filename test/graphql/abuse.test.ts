import net from 'node:net'
import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import type { Test } from 'tap'
import { buildTestApp, gql, PASSWORD, signUp } from '../helper.ts'
import { LoginDocument, MeDocument, RefreshDocument, SignUpDocument } from '../support/generated/graphql.ts'

// Hostile requests (issue 5, abuse): alias and batch bombs, deep queries, oversized bodies, malformed JSON, invalid
// UTF-8, huge variables, GET mutations, unknown content types, and a few byte-level ones over a real socket. Each is
// answered with a 4xx or a GraphQL error carrying extensions.code (never INTERNAL, never a 5xx), nothing runs that
// should not, and the server answers normal requests afterwards. graphql.test.ts has the basic limit checks; this
// file pushes them to the sizes an attacker would pick. Time bounds come from tap's timeout, not from assertions.

const { app, logs } = await buildTestApp(t)
const user = await signUp(app, 'NATIVE')
const auth = { authorization: `Bearer ${user.accessToken}` }
// The apps' own operations, as text inside the hostile envelopes below (bodies, variables, methods no client sends).
const ME = String(MeDocument)
const REFRESH = String(RefreshDocument)
const SIGN_UP = String(SignUpDocument)
const LOGIN = String(LoginDocument)

interface Body { data?: unknown, errors?: Array<{ message: string, extensions?: { code?: unknown, [k: string]: unknown } }> }

/** A clear refusal: a 4xx or a 200 with GraphQL errors, JSON, every error coded, none INTERNAL. Returns the codes. */
function refusedClearly (t: Test, res: LightMyRequestResponse, what: string): string[] {
  t.ok(res.statusCode < 500, `${what}: no 5xx (got ${res.statusCode})`)
  t.match(res.headers['content-type'], /^application\/json/, `${what}: a JSON answer`)
  const body = res.json<Body>()
  t.ok(Array.isArray(body.errors) && body.errors.length > 0, `${what}: GraphQL errors`)
  const codes = (body.errors ?? []).map((e) => e.extensions?.code)
  t.ok(codes.every((c) => typeof c === 'string' && c !== 'INTERNAL'), `${what}: every error has a code, none INTERNAL (${codes.join(', ')})`)
  t.notOk(body.data, `${what}: no data`)
  return codes as string[]
}

const post = async (payload: string | Buffer, headers: Record<string, string> = {}) => await app.inject({
  method: 'POST', url: '/graphql', headers: { 'content-type': 'application/json', ...auth, ...headers }, payload
})
const postJson = async (body: unknown, headers: Record<string, string> = {}) => await post(JSON.stringify(body), headers)

/** The server still does its job, for this user's session. */
async function stillServes (t: Test) {
  const me = await gql(app, MeDocument, {}, { token: user.accessToken })
  t.equal(me.errors, undefined, 'a normal query still works afterwards')
  t.equal(me.data?.me?.email, user.email)
}

t.test('alias bombs are refused before any resolver runs', async (t) => {
  const meBomb = await postJson({ query: `{ ${Array.from({ length: 1000 }, (_, i) => `m${i}: me { id email }`).join(' ')} }` })
  t.same(refusedClearly(t, meBomb, '1,000 aliases of me'), ['GRAPHQL_VALIDATION_FAILED'])
  t.match(meBomb.json<Body>().errors?.[0]?.message, /Aliases limit of 10 exceeded, found 1000/)

  // The same bomb on a mutation with side effects: not one refresh may run.
  const generation = async () => (await app.prisma.session.findUniqueOrThrow({ where: { id: user.sessionId } })).generation
  const before = await generation()
  const refreshBomb = await postJson({
    query: `mutation($r: String) { ${Array.from({ length: 1000 }, (_, i) => `r${i}: refresh(refreshToken: $r, client: NATIVE) { accessToken }`).join(' ')} }`,
    variables: { r: user.refreshToken }
  })
  t.same(refusedClearly(t, refreshBomb, '1,000 aliased refreshes'), ['GRAPHQL_VALIDATION_FAILED'])
  t.equal(await generation(), before, 'the session did not rotate')

  // No aliases at all, the same field 6,000 times: graphql-js's overlap check gives up instead of going quadratic.
  const dupes = await postJson({ query: `{ ${'me { id } '.repeat(6000)}}` })
  t.same(refusedClearly(t, dupes, '6,000 repeated fields'), ['GRAPHQL_VALIDATION_FAILED'])
  await stillServes(t)
})

t.test('batched bodies are refused (batching is off)', async (t) => {
  for (const size of [1, 2, 500]) {
    const res = await postJson(Array.from({ length: size }, () => ({ query: '{ me { id } }' })))
    t.equal(res.statusCode, 400, `a batch of ${size}: 400`)
    refusedClearly(t, res, `a batch of ${size}`)
  }
  for (const body of ['42', 'null', '"{ me { id } }"', 'true']) {
    const res = await post(body)
    t.equal(res.statusCode, 400, `JSON ${body} as the body: 400`)
    refusedClearly(t, res, `JSON ${body} as the body`)
  }
  await stillServes(t)
})

t.test('queries deeper than GRAPHQL_MAX_DEPTH (8), directly or through fragments, are refused', async (t) => {
  t.equal(app.config.GRAPHQL_MAX_DEPTH, 8, 'the default limit')
  const nest = (n: number) => `${'ofType { '.repeat(n)}name${' }'.repeat(n)}`
  const direct = await postJson({ query: `{ __schema { types { ${nest(40)} } } }` })
  t.equal(direct.statusCode, 400)
  t.same(refusedClearly(t, direct, 'depth 42'), ['GRAPHQL_VALIDATION_FAILED'])
  t.match(direct.json<Body>().errors?.[0]?.message, /exceeds the query depth limit of 8/)

  const fragments = `{ __schema { types { ...F0 } } } ${Array.from({ length: 20 }, (_, i) =>
    `fragment F${i} on __Type { ofType { ${i < 19 ? `...F${i + 1}` : 'name'} } }`).join(' ')}`
  const viaFragments = await postJson({ query: fragments })
  t.same(refusedClearly(t, viaFragments, 'depth through 20 chained fragments'), ['GRAPHQL_VALIDATION_FAILED'])

  const inline = await postJson({ query: `{ __schema { types { ${'... on __Type { ofType { '.repeat(20)}name${' } }'.repeat(20)} } } }` })
  t.same(refusedClearly(t, inline, 'depth through inline fragments'), ['GRAPHQL_VALIDATION_FAILED'])

  const cycle = await postJson({ query: '{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }' })
  t.same(refusedClearly(t, cycle, 'a fragment cycle'), ['GRAPHQL_VALIDATION_FAILED'])
  await stillServes(t)
})

t.test('bodies over BODY_LIMIT_BYTES (64 KiB) get 413 with a JSON error', async (t) => {
  t.equal(app.config.BODY_LIMIT_BYTES, 64 * 1024)
  const oneMb = await postJson({ query: '{ me { id } }', variables: { pad: 'x'.repeat(1024 * 1024) } })
  t.equal(oneMb.statusCode, 413)
  t.same(refusedClearly(t, oneMb, '1 MB body'), ['BAD_USER_INPUT'])
  t.equal(oneMb.json<Body>().errors?.[0]?.extensions?.reason, 'FST_ERR_CTP_BODY_TOO_LARGE')

  const justOver = await post(Buffer.alloc(64 * 1024 + 1, ' '))
  t.equal(justOver.statusCode, 413, 'one byte over the limit')
  const query = await postJson({ query: `{ ${'__typename '.repeat(100_000)}}` })
  t.equal(query.statusCode, 413, 'a 1 MB query string')
  await stillServes(t)
})

t.test('malformed JSON is a 400 with BAD_USER_INPUT', async (t) => {
  const bodies: Record<string, string> = {
    truncated: '{"query": "{ me { id } }"',
    'trailing garbage': '{"query": "{ me { id } }"} x',
    'single quotes': "{'query': '{ me { id } }'}",
    'bare word': 'query',
    // secure-json-parse refuses prototype poisoning instead of building the object.
    '__proto__ key': '{"query": "{ me { id } }", "__proto__": {"admin": true}}',
    'constructor.prototype': '{"query": "{ me { id } }", "variables": {"constructor": {"prototype": {"admin": true}}}}',
    empty: ''
  }
  for (const [what, body] of Object.entries(bodies)) {
    const res = await post(body)
    t.equal(res.statusCode, 400, `${what}: 400`)
    t.same(refusedClearly(t, res, what), ['BAD_USER_INPUT'])
  }
  t.equal(({} as Record<string, unknown>).admin, undefined, 'no prototype was polluted')
  await stillServes(t)
})

t.test('invalid UTF-8, NUL and unpaired surrogates: a clear error, nothing stored', async (t) => {
  const bytes = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((p) => typeof p === 'string' ? Buffer.from(p) : Buffer.from(p)))
  const INVALID = [0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80] // stray bytes, a broken 2-byte sequence, an encoded surrogate

  // In the query text the decoder's U+FFFD is not a GraphQL character: a syntax error.
  const inQuery = await post(bytes('{"query": "{ m', INVALID, 'e { id } }"}'))
  t.equal(inQuery.statusCode, 400)
  t.same(refusedClearly(t, inQuery, 'invalid UTF-8 inside the query'), ['GRAPHQL_PARSE_FAILED'])

  // In a variable it decodes to U+FFFD and is just a wrong password.
  const inVariable = await post(bytes(`{"query": ${JSON.stringify(LOGIN)}, "variables": {"input": {"email": "${user.email}", "password": "`, INVALID, '", "client": "NATIVE"}}}'))
  t.same(refusedClearly(t, inVariable, 'invalid UTF-8 in a password'), ['UNAUTHENTICATED'])

  // Valid JSON escapes that PostgreSQL cannot store (text and jsonb refuse U+0000; jsonb refuses lone surrogates):
  // refused at the door instead of failing as INTERNAL inside a resolver.
  const escaped: Record<string, string> = {
    'U+0000 in a sign-up name': `{"query": ${JSON.stringify(SIGN_UP)}, "variables": {"input": {"email": "nul-name@example.com", "password": "${PASSWORD}", "name": "a\\u0000b", "client": "NATIVE"}}}`,
    'a lone surrogate in a sign-up name': `{"query": ${JSON.stringify(SIGN_UP)}, "variables": {"input": {"email": "surrogate@example.com", "password": "${PASSWORD}", "name": "a\\ud800b", "client": "NATIVE"}}}`,
    'U+0000 in a login email (recorded in a jsonb security event)': `{"query": ${JSON.stringify(LOGIN)}, "variables": {"input": {"email": "x\\u0000@example.com", "password": "whatever", "client": "NATIVE"}}}`,
    'a lone low surrogate in a login email': `{"query": ${JSON.stringify(LOGIN)}, "variables": {"input": {"email": "x\\udc00@example.com", "password": "whatever", "client": "NATIVE"}}}`,
    'U+0000 in a GraphQL string literal': JSON.stringify({ query: 'mutation { login(input: {email: "x\\u0000@example.com", password: "whatever", client: NATIVE}) { accessToken } }' }),
    'U+0000 in a refresh token': `{"query": ${JSON.stringify(REFRESH)}, "variables": {"refreshToken": "igrt_\\u0000", "client": "NATIVE"}}`
  }
  const usersBefore = await app.prisma.user.count()
  const eventsBefore = await app.prisma.securityEvent.count()
  for (const [what, body] of Object.entries(escaped)) {
    t.same(refusedClearly(t, await post(body), what), ['BAD_USER_INPUT'])
  }
  t.equal(await app.prisma.user.count(), usersBefore, 'no account was created')
  t.equal(await app.prisma.securityEvent.count(), eventsBefore, 'nothing was recorded')

  // A well-formed astral character (a surrogate pair) is ordinary text.
  const emoji = await gql(app, SignUpDocument, { input: { email: 'emoji@example.com', password: PASSWORD, name: 'Ann 📬', client: 'NATIVE' } })
  t.equal(emoji.errors, undefined, 'surrogate pairs are fine')
  t.equal((await app.prisma.user.findUniqueOrThrow({ where: { email: 'emoji@example.com' } })).name, 'Ann 📬')
  await stillServes(t)
})

t.test('query strings that are not GraphQL documents (Mercurius would try them as a JSON AST)', async (t) => {
  const ast = { kind: 'Document', definitions: [{ kind: 'OperationDefinition', operation: 'query', selectionSet: { kind: 'SelectionSet', selections: [] } }] }
  for (const query of [42, true, '42', '{}', 'null', '[]', '"x"', JSON.stringify(ast), JSON.stringify({ kind: 'Document', definitions: [{}] })]) {
    const res = await postJson({ query })
    t.equal(res.statusCode, 400, `query ${JSON.stringify(query).slice(0, 40)}: 400`)
    t.same(refusedClearly(t, res, `query ${JSON.stringify(query).slice(0, 40)}`), ['GRAPHQL_PARSE_FAILED'])
  }
  await stillServes(t)
})

t.test('huge variables: bounded work and a clear answer', async (t) => {
  // 4,000 undeclared variables (about 50 KB) are ignored.
  const many = await postJson({ query: ME, variables: Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`v${i}`, i])) })
  t.equal(many.statusCode, 200)
  t.equal(many.json<Body>().errors, undefined, '4,000 unused variables are ignored')

  // 20,000 levels of nesting, which a recursive walk would overflow on.
  const deep = await post(`{"query": ${JSON.stringify(ME)}, "variables": {"x": ${'['.repeat(20_000)}${']'.repeat(20_000)}}}`)
  t.equal(deep.statusCode, 200, 'deeply nested variables: no crash')
  t.equal(deep.json<Body>().errors, undefined)

  const big = 'x'.repeat(60_000)
  const token = await postJson({ query: REFRESH, variables: { refreshToken: big, client: 'NATIVE' } })
  t.same(refusedClearly(t, token, 'a 60 KB refresh token'), ['UNAUTHENTICATED'])
  const login = await postJson({ query: LOGIN, variables: { input: { email: user.email, password: big, client: 'NATIVE' } } })
  t.same(refusedClearly(t, login, 'a 60 KB password (never hashed)'), ['UNAUTHENTICATED'])
  const name = await postJson({ query: SIGN_UP, variables: { input: { email: 'big@example.com', password: PASSWORD, name: big, client: 'NATIVE' } } })
  t.same(refusedClearly(t, name, 'a 60 KB name'), ['BAD_USER_INPUT'])
  const first = await postJson({ query: '{ sessions(first: 99999999999) { id } }' })
  t.same(refusedClearly(t, first, 'an Int beyond 32 bits'), ['GRAPHQL_VALIDATION_FAILED'])
  const wrongType = await postJson({ query: ME, variables: 'not an object' })
  t.equal(wrongType.statusCode, 400)
  refusedClearly(t, wrongType, 'variables as a string')
  await stillServes(t)
})

t.test('mutations over GET are refused and do not run', async (t) => {
  const logout = `/graphql?query=${encodeURIComponent('mutation { logout(everywhere: true) }')}`
  const plain = await app.inject({ method: 'GET', url: logout, headers: auth })
  t.equal(plain.statusCode, 400)
  t.same(refusedClearly(t, plain, 'GET mutation'), ['FORBIDDEN'])
  const withHeader = await app.inject({ method: 'GET', url: logout, headers: { ...auth, 'x-mercurius-operation-name': 'Logout' } })
  t.equal(withHeader.statusCode, 405)
  refusedClearly(t, withHeader, 'GET mutation with the CSRF header')
  t.equal(await app.prisma.session.count({ where: { userId: user.user.id, revokedAt: { not: null } } }), 0, 'no session was ended')

  const badVariables = await app.inject({ method: 'GET', url: `/graphql?query=${encodeURIComponent(ME)}&variables=%7Bnot-json`, headers: { ...auth, 'x-mercurius-operation-name': 'Me' } })
  t.equal(badVariables.statusCode, 400)
  refusedClearly(t, badVariables, 'GET with malformed variables')
  await stillServes(t)
})

t.test('unknown or hostile content types are refused', async (t) => {
  const body = JSON.stringify({ query: ME })
  for (const type of ['application/xml', 'multipart/form-data; boundary=x', 'application/octet-stream', 'image/png']) {
    const res = await post(body, { 'content-type': type })
    t.equal(res.statusCode, 400, `${type}: 400`)
    t.same(refusedClearly(t, res, type), ['FORBIDDEN'], `${type}: refused as a possible CSRF`)
    // A client sending the CSRF header gets past that check and meets the missing parser instead.
    const withHeader = await post(body, { 'content-type': type, 'x-mercurius-operation-name': 'Me' })
    t.equal(withHeader.statusCode, 415, `${type} with the CSRF header: 415`)
    refusedClearly(t, withHeader, `${type} with the CSRF header`)
  }
  const none = await app.inject({ method: 'POST', url: '/graphql', headers: auth, payload: body })
  t.ok(none.statusCode >= 400 && none.statusCode < 500, `no content type: ${none.statusCode}`)
  refusedClearly(t, none, 'no content type')
  await stillServes(t)
})

interface RawResponse { status: number, head: string, body: string }

/** Writes raw bytes to the listening server and reads what comes back until it closes the connection. */
async function raw (port: number, chunks: Array<string | Buffer>): Promise<RawResponse> {
  return await new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    const received: Buffer[] = []
    socket.setTimeout(20_000, () => socket.destroy(new Error('no answer within 20 s')))
    socket.on('data', (d) => received.push(d))
    const done = (err?: Error) => {
      const text = Buffer.concat(received).toString('utf8')
      // The server may reset the connection while we are still sending: what it answered first is what counts.
      if (text === '') { reject(err ?? new Error('empty answer')); return }
      const [head = '', ...rest] = text.split('\r\n\r\n')
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body: rest.join('\r\n\r\n') })
    }
    socket.on('error', (err) => done(err))
    socket.on('close', () => done())
    socket.on('connect', () => {
      // Fire and forget: the writes only ever resolve, and how they end (reset, close) reaches `done` above.
      void (async () => {
        for (const chunk of chunks) {
          if (socket.destroyed) return
          await new Promise<void>((resolve) => socket.write(chunk, () => resolve()))
        }
      })()
    })
  })
}

t.test('over a real socket: streamed oversize bodies, lying lengths, huge headers, garbage', async (t) => {
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  const port = typeof address === 'object' && address != null ? address.port : 0
  const head = (extra: string) => `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n${extra}\r\n`

  // 1 MB in chunks with no Content-Length: counted as it streams, refused past 64 KiB.
  const chunk = Buffer.alloc(16 * 1024, 'x')
  const chunked = await raw(port, [head('Transfer-Encoding: chunked\r\n'), ...Array.from({ length: 64 }, () => Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')])), '0\r\n\r\n'])
  t.equal(chunked.status, 413, 'chunked 1 MB: 413')
  t.match(chunked.body, /"code":"BAD_USER_INPUT"/)

  // A Content-Length of 1 MB is refused from the header alone: no waiting for bytes that never come.
  const lying = await raw(port, [head('Content-Length: 1048576\r\n'), '{"query":'])
  t.equal(lying.status, 413, 'declared 1 MB: 413 at once')

  const hugeHeader = await raw(port, [head(`X-Pad: ${'a'.repeat(64 * 1024)}\r\nContent-Length: 2\r\n`), '{}'])
  t.equal(hugeHeader.status, 431, 'a 64 KB header: 431 from the HTTP parser')

  // Both framings at once (a request-smuggling shape) and a garbage request line: the HTTP parser's 400.
  const both = await raw(port, [head('Content-Length: 4\r\nTransfer-Encoding: chunked\r\n'), '0\r\n\r\n'])
  t.equal(both.status, 400, 'Content-Length with Transfer-Encoding: 400')
  const garbage = await raw(port, [Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00]), '\r\n\r\n']) // a TLS ClientHello
  t.equal(garbage.status, 400, 'TLS bytes on the plain port: 400')

  const ok = await fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ query: ME }) })
  t.equal(ok.status, 200, 'the listening server still answers')
  t.equal(((await ok.json()) as { data: { me: { email: string } } }).data.me.email, user.email)
})

t.test('nothing above was an unexpected error', async (t) => {
  t.notMatch(logs.join('\n'), /unexpected error in GraphQL request/, 'no INTERNAL was logged')
  t.notOk(logs.some((line) => /"level":(50|60)/.test(line)), 'no error-level log line at all')
})
