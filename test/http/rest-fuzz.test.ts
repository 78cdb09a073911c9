import t from 'tap'
import type { Test } from 'tap'
import { startAppleEmulator } from '../../emulators/apple/app.ts'
import { buildGmailApp } from '../gmail/helpers.ts'

// Issue 21 item 7: a fuzz test over every REST route. A small seeded generator of our own (mulberry32; no
// dependency): hostile bodies (NUL bytes, invalid UTF-8 as raw bytes, broken and nested JSON, repeated form keys),
// oversize bodies, wrong and malformed content types, hostile headers, and paths with dot segments, encoded
// slashes and bad percent-escapes. Every answer must be a 4xx (or the route's normal answer), never a 5xx, in the
// route's own error format. The seed is printed: FUZZ_SEED=<n> replays a run.

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31)
const CASES_PER_ROUTE = Number(process.env.FUZZ_CASES ?? 30)

function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** Percent-encodes every byte (encodeURIComponent throws on a lone surrogate). */
const pct = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')

type Format = 'oauth' | 'risc' | 'html' | 'json'
interface Route { method: 'GET' | 'POST', path: string, format: Format }

// Every REST route of a server with Google, Gmail push, Apple, metrics and mail pages on.
const ROUTES: Route[] = [
  { method: 'POST', path: '/oauth/token', format: 'oauth' },
  { method: 'POST', path: '/google/risc', format: 'risc' },
  { method: 'POST', path: '/google/pubsub', format: 'oauth' },
  { method: 'POST', path: '/apple/notifications', format: 'oauth' },
  { method: 'GET', path: '/auth/google', format: 'html' },
  { method: 'GET', path: '/auth/google/callback', format: 'html' },
  { method: 'GET', path: '/auth/google/done', format: 'html' },
  { method: 'GET', path: '/auth/apple', format: 'html' },
  { method: 'POST', path: '/auth/apple/callback', format: 'html' },
  { method: 'GET', path: '/auth/apple/done', format: 'html' },
  { method: 'GET', path: '/email/verify', format: 'html' },
  { method: 'POST', path: '/email/verify', format: 'html' },
  { method: 'GET', path: '/email/reset-password', format: 'html' },
  { method: 'POST', path: '/email/reset-password', format: 'html' },
  { method: 'GET', path: '/health', format: 'json' },
  { method: 'GET', path: '/health/ready', format: 'json' },
  { method: 'GET', path: '/metrics', format: 'json' },
  { method: 'GET', path: '/.well-known/jwks.json', format: 'json' },
  { method: 'GET', path: '/.well-known/openid-configuration', format: 'json' }
]

class Fuzzer {
  readonly #r: () => number
  constructor (seed: number) { this.#r = mulberry32(seed) }
  int (n: number): number { return Math.floor(this.#r() * n) }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]! }
  bytes (n: number): Buffer { return Buffer.from(Array.from({ length: n }, () => this.int(256))) }

  /** A string of hostile characters: NUL, controls, lone surrogates, RTL marks, percent-escapes, quotes. */
  text (max = 64): string {
    const atoms = ['\u0000', '\u0001', '\u001f', '\u007f', '\ud800', '\udfff', '\u202e', '\ufeff', '%00', '%ff', '%c3%28', '%', '%%', '"', '\'', '<', '>',
      '&', '=', '+', ';', '\\', '/', '..', '\r\n', '😀', 'a', 'Z', '0', ' ', '{', '[', 'null', 'true', '-1', '1e999']
    return Array.from({ length: 1 + this.int(max) }, () => this.pick(atoms)).join('')
  }

  form (): string {
    const names = ['client_id', 'client_secret', 'grant_type', 'subject_token', 'subject_token_type', 'requested_token_type', 'scope', 'token', 'password', 'state', 'code', 'id_token', 'user', 'payload', '__proto__', 'constructor', '']
    return Array.from({ length: 1 + this.int(8) }, () => `${this.pick(names)}=${this.pick([pct(this.text(8)), this.text(8), '%00', '%FF%FE', 'x'.repeat(this.int(3) === 0 ? 5000 : 5)])}`).join('&')
  }

  json (): string {
    const depth = this.int(3) === 0 ? 2000 : this.int(5)
    const shapes = [
      () => '['.repeat(depth) + ']'.repeat(this.int(2) === 0 ? depth : 0),
      () => `{"payload":${JSON.stringify(this.text(20))}}`,
      () => '{"payload":' + '9'.repeat(400) + '}',
      () => '{"__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}}}',
      () => `{"message":{"data":${JSON.stringify(this.text(10))},"messageId":${this.pick(['1', '"\\u0000"', 'null', '[]', '{}'])}}}`,
      () => '{"a":"\\ud800"}',
      () => '{"a":',
      () => 'null',
      () => '"\u0000"'
    ]
    return this.pick(shapes)()
  }

  body (): string | Buffer {
    switch (this.int(8)) {
      case 0: return this.bytes(this.int(300)) // raw bytes: invalid UTF-8 most of the time
      case 1: return Buffer.concat([Buffer.from('client_id='), Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28]), Buffer.from('&token=x')])
      case 2: return 'a='.concat('x'.repeat(this.pick([17 * 1024, 70 * 1024, 1024 * 1024 + 1]))) // past each route's limit
      case 3: return this.form()
      case 4: return this.json()
      case 5: return `eyJhbGciOiJub25lIn0.${Buffer.from(this.text(40)).toString('base64url')}.`
      case 6: return ''
      default: return this.text(200)
    }
  }

  contentType (): string | undefined {
    return this.pick([undefined, 'application/x-www-form-urlencoded', 'application/json', 'application/secevent+jwt', 'text/plain', 'application/octet-stream',
      'multipart/form-data; boundary=x', 'application/json; charset=utf-7', 'application/x-www-form-urlencoded; charset=latin1', 'a/b;;;=', '', '*/*', 'text/html\u0000'])
  }

  /** The route's path, or a hostile variant of it (dot segments, encoded slashes, bad escapes, a query). */
  path (path: string): string {
    const last = path.lastIndexOf('/')
    const variants = [
      () => path,
      () => `${path}?${this.form()}`,
      () => `${path}?token=%00&redirectTo=%2F%2Fevil.example&state=%FF&code=%C3%28&auth_error=${pct(this.text(10))}`,
      () => `${path.slice(0, last)}/./${path.slice(last + 1)}`,
      () => `${path.slice(0, last)}/x/../${path.slice(last + 1)}`,
      () => `${path.slice(0, last)}%2F${path.slice(last + 1)}`,
      () => `${path.slice(0, last)}%2f..%2f${path.slice(last + 1)}`,
      () => `${path}%00`,
      () => `${path}/%2e%2e/%2e%2e/etc/passwd`,
      () => `/${path}`,
      () => `${path};jsessionid=1`,
      () => `${path}?%=%&%ZZ=1`,
      () => `${path}?${'a=1&'.repeat(2000)}`
    ]
    return this.pick(variants)()
  }

  headers (): Record<string, string> {
    const h: Record<string, string> = {}
    if (this.int(3) === 0) h.authorization = this.pick(['Basic %%%', 'Basic AAAA', `Basic ${Buffer.from('\u0000:\u0000').toString('base64')}`, 'Bearer \u0001', `Bearer ${'a.'.repeat(500)}`, 'Negotiate x'])
    if (this.int(3) === 0) h.cookie = this.pick(['__Host-ig_refresh=%00', 'ig_state=%FF; ig_state=2', 'a='.concat('b'.repeat(4000)), ';;;='])
    if (this.int(4) === 0) h.origin = this.pick(['null', 'http://evil.example', 'http://127.0.0.1:4000'])
    if (this.int(5) === 0) h['x-forwarded-for'] = this.pick(['::ffff:0.0.0.0', 'not-an-ip', '1.1.1.1, 2.2.2.2'])
    return h
  }
}

function checkFormat (t: Test, route: Route, res: { statusCode: number, headers: Record<string, unknown>, body: string }, name: string) {
  const type = String(res.headers['content-type'] ?? '')
  if (res.statusCode >= 500) {
    t.fail(`${name}: ${res.statusCode} ${res.body.slice(0, 200)}`)
    return false
  }
  if (res.statusCode < 400 || res.statusCode === 404 || res.statusCode === 405 || res.body === '') return true
  let ok: boolean
  if (route.format === 'html') ok = type.startsWith('text/html')
  else {
    let body: Record<string, unknown> | null = null
    try { body = JSON.parse(res.body) as Record<string, unknown> } catch { body = null }
    if (route.format === 'oauth') ok = typeof body?.error === 'string' && typeof body.error_description === 'string'
    else if (route.format === 'risc') ok = typeof body?.err === 'string' && typeof body.description === 'string'
    else ok = body != null || type.startsWith('text/plain')
  }
  if (!ok) t.fail(`${name}: ${res.statusCode} is not in the route's format (${route.format}): ${type} ${res.body.slice(0, 160)}`)
  return ok
}

t.test(`every REST route, fuzzed (seed ${SEED}): never a 5xx, errors in the route's own format`, async (t) => {
  const apple = await startAppleEmulator({ clients: [{ id: 'com.example.inboxgate', redirectUris: [] }, { id: 'com.example.inboxgate.web', redirectUris: ['http://127.0.0.1:4000/auth/apple/callback'] }] })
  t.teardown(async () => { await apple.close() })
  const ctx = await buildGmailApp(t, {
    env: {
      METRICS_ENABLED: 'true',
      METRICS_TOKEN: 'm'.repeat(32),
      GMAIL_PUSH_TOPIC: 'projects/inboxgate-test/topics/gmail-push',
      GMAIL_PUSH_SERVICE_ACCOUNT: 'push@p.iam.gserviceaccount.com',
      GMAIL_PUSH_AUDIENCE: 'https://inboxgate.example/google/pubsub',
      APPLE_CLIENT_IDS: 'com.example.inboxgate,com.example.inboxgate.web',
      APPLE_WEB_CLIENT_ID: 'com.example.inboxgate.web',
      APPLE_API_BASE_URL: apple.baseUrl,
      APPLE_TEAM_ID: apple.state.developer.teamId,
      APPLE_KEY_ID: apple.state.developer.keyId,
      APPLE_PRIVATE_KEY: apple.state.developerKeyPem().replace(/\n/g, '\\n'),
      PUBLIC_URL: 'http://127.0.0.1:4000'
    }
  })
  const { app } = ctx
  for (const route of ROUTES) t.ok(app.hasRoute({ method: route.method, url: route.path }), `${route.method} ${route.path} is served`)

  const fuzz = new Fuzzer(SEED)
  let failures = 0
  for (const route of ROUTES) {
    for (let i = 0; i < CASES_PER_ROUTE; i++) {
      const url = i === 0 ? route.path : fuzz.path(route.path)
      const contentType = fuzz.contentType()
      const headers: Record<string, string> = { ...fuzz.headers(), ...(contentType != null ? { 'content-type': contentType } : {}) }
      const method = fuzz.int(6) === 0 ? fuzz.pick(['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'] as const) : route.method
      const payload = route.method === 'POST' || fuzz.int(4) === 0 ? fuzz.body() : undefined
      let res
      try {
        res = await app.inject({ method, url, headers, ...(payload != null ? { payload } : {}) })
      } catch (err) {
        // light-my-request refuses some URLs itself (it never reaches the server): not a server answer.
        if (err instanceof TypeError || (err as { code?: string }).code === 'ERR_INVALID_URL') continue
        throw err
      }
      // A path variant that no route serves (encoded slashes; dot segments are resolved by the URL parser) is the
      // server's 404, in Fastify's shape; so is a method the route does not take (HEAD is GET's).
      const served = app.hasRoute({ method: method === 'HEAD' ? 'GET' : method, url: new URL(url.split('?')[0]!, 'http://fuzz.invalid').pathname }) && (method === route.method || (method === 'HEAD' && route.method === 'GET'))
      if (!checkFormat(t, served ? route : { ...route, format: 'json' }, res, `${method} ${url.slice(0, 80)} [${contentType}] case ${i}`)) failures++
    }
  }
  t.equal(failures, 0, `no failing case (replay with FUZZ_SEED=${SEED})`)
  t.notOk(ctx.logs.some((l) => l.includes('"level":50') && l.includes('PrismaClient')), 'no Prisma error in the log')
})
