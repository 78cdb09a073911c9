import { test } from 'tap'
import { redactUrl } from '../../src/app.ts'
import { buildTestApp } from '../helper.ts'

// Issue 21 item 7: every REST route answers hostile input with a 4xx in its own format, never 500; URLs are logged
// with query values redacted except an allowlist; /oauth/token and /google/risc do no CORS.

test('request URLs are logged with every query value redacted but an allowlist', async (t) => {
  t.equal(redactUrl('/auth/google?intent=connect_gmail&client_secret=s3cret&password=hunter2&subject_token=abc'),
    '/auth/google?intent=connect_gmail&client_secret=[redacted]&password=[redacted]&subject_token=[redacted]')
  t.equal(redactUrl('/health'), '/health')
  const { app, logs } = await buildTestApp(t)
  await app.inject({ method: 'GET', url: '/health?password=hunter2-value&client_secret=igs_leaked_value' })
  const text = logs.join('\n')
  t.notOk(text.includes('hunter2-value') || text.includes('igs_leaked_value'), 'no unknown query value reaches the log (it did before)')
  t.match(text, /password=\[redacted\]/)
})

test('hostile input on every REST route: a 4xx in the route\'s own format, never a 500', async (t) => {
  const { app, logs } = await buildTestApp(t, { env: { METRICS_ENABLED: 'true', METRICS_TOKEN: 'm'.repeat(32) } })
  const nul = 'client_id=%00&client_secret=x&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange'
  const invalidUtf8 = Buffer.from([0x63, 0x3d, 0xff, 0xfe, 0xc3, 0x28, 0x00])
  const oversize = 'a='.concat('x'.repeat(2 * 1024 * 1024))
  const bodies: Array<[string, string | Buffer]> = [['nul', nul], ['invalid utf-8', invalidUtf8], ['oversize', oversize], ['json', '{"a":'], ['empty', '']]
  const types = ['application/x-www-form-urlencoded', 'application/json', 'application/secevent+jwt', 'text/plain']
  const routes: Array<{ method: 'GET' | 'POST', url: string }> = [
    { method: 'POST', url: '/oauth/token' }, { method: 'POST', url: '/google/risc' },
    { method: 'GET', url: '/auth/google?redirect_to=%00&intent=%FF' }, { method: 'GET', url: '/auth/google/callback?state=%00&code=%C3%28' },
    { method: 'GET', url: '/health' }, { method: 'GET', url: '/health/ready' }, { method: 'GET', url: '/metrics' }
  ]
  for (const route of routes) {
    for (const [name, payload] of route.method === 'POST' ? bodies : [['none', ''] as [string, string]]) {
      for (const type of route.method === 'POST' ? types : ['text/plain']) {
        const res = await app.inject({ method: route.method, url: route.url, headers: { 'content-type': type }, ...(route.method === 'POST' ? { payload } : {}) })
        t.ok(res.statusCode < 500 || (route.url.startsWith('/auth/google') && res.statusCode === 503) || route.url === '/health/ready',
          `${route.method} ${route.url} ${name} ${type}: ${res.statusCode}`)
        if (route.url === '/oauth/token') t.match(res.json(), { error: String, error_description: String }, 'RFC 6749 shape')
      }
    }
  }
  const nulClient = await app.inject({ method: 'POST', url: '/oauth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: nul })
  t.equal(nulClient.statusCode, 401, 'a NUL byte in client_id is invalid_client (500 before)')
  const big = await app.inject({ method: 'POST', url: '/oauth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: oversize })
  t.equal(big.statusCode, 413)
  t.match(big.json(), { error: 'invalid_request', error_description: /too large/ }, '413 in RFC 6749 shape (Fastify\'s shape before)')
  t.notOk(logs.join('\n').includes('PrismaClient'), 'no Prisma stack in the log')
})

test('/oauth/token does no CORS, even for an allowed origin', async (t) => {
  const { app } = await buildTestApp(t)
  const origin = app.config.PUBLIC_ORIGINS[0]!
  // /google/risc is registered only with Google configured (not in this app); its routes carry the same cors: false.
  for (const url of ['/oauth/token']) {
    const pre = await app.inject({ method: 'OPTIONS', url, headers: { origin, 'access-control-request-method': 'POST' } })
    t.equal(pre.headers['access-control-allow-origin'], undefined, `${url}: no preflight grant (it answered with credentials before)`)
    t.equal(pre.headers['access-control-allow-credentials'], undefined)
    const post = await app.inject({ method: 'POST', url, headers: { origin, 'content-type': 'text/plain' }, payload: 'x' })
    t.equal(post.headers['access-control-allow-origin'], undefined, `${url}: no CORS on the answer`)
  }
  const graphql = await app.inject({ method: 'OPTIONS', url: '/graphql', headers: { origin, 'access-control-request-method': 'POST' } })
  t.equal(graphql.headers['access-control-allow-origin'], origin, 'GraphQL keeps its CORS')
})
