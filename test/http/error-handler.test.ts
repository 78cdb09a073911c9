import Fastify from 'fastify'
import { test } from 'tap'
import { defaultErrorHandler } from '../../src/http/error-handler.ts'
import { buildTestApp } from '../helper.ts'
import { buildRiscApp, post, setFor, subjectOf, ALICE } from '../google/risc/helpers.ts'

// Each REST route answers every failure in its own format; 5xx messages are masked and logged once.

const count = (logs: string[], text: string) => logs.filter((l) => l.includes(text)).length

test('/google/risc: an internal failure is a 503 in RFC 8935\'s shape (Google delivers again), logged once', async (t) => {
  const ctx = await buildRiscApp(t, { listen: false })
  // Break the table the receiver records each event in: the database error text must not reach Google.
  await ctx.app.prisma.$executeRawUnsafe('ALTER TABLE "received_security_events" RENAME TO "received_security_events_gone"')
  t.teardown(async () => await ctx.app.prisma.$executeRawUnsafe('ALTER TABLE "received_security_events_gone" RENAME TO "received_security_events"'))
  const res = await post(ctx, setFor(ctx, 'tokens-revoked', subjectOf(ALICE.sub)))
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '60')
  t.same(res.json(), { err: 'temporarily_unavailable', description: 'Try again later' })
  t.notMatch(res.body, /received_security_events|relation|prisma/i)
  const errors = ctx.logs.filter((l) => l.includes('"level":50'))
  t.equal(errors.length, 1, 'one error line')
  t.match(errors[0], /Google RISC event could not be applied/, 'logged once, by the route\'s handler')
})

test('/google/risc: a body over the limit is refused in RFC 8935\'s shape', async (t) => {
  const ctx = await buildRiscApp(t, { listen: false })
  const res = await post(ctx, 'x'.repeat(17 * 1024))
  t.equal(res.statusCode, 413)
  t.same(res.json(), { err: 'invalid_request', description: 'Request body is too large' })
})

test('/oauth/token: a body over the limit is an RFC 6749 JSON error, not Fastify\'s', async (t) => {
  const { app } = await buildTestApp(t)
  const res = await app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: `grant_type=${'x'.repeat(17 * 1024)}`
  })
  t.equal(res.statusCode, 413)
  t.same(res.json(), { error: 'invalid_request', error_description: 'Request body is too large' })
  t.equal(res.headers['cache-control'], 'no-store')
})

test('/oauth/token: an internal failure is server_error, masked, logged once', async (t) => {
  const { app, logs } = await buildTestApp(t)
  await app.prisma.$executeRawUnsafe('ALTER TABLE "service_clients" RENAME TO "service_clients_gone"')
  t.teardown(async () => await app.prisma.$executeRawUnsafe('ALTER TABLE "service_clients_gone" RENAME TO "service_clients"'))
  const res = await app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('svc:secret').toString('base64')}` },
    payload: 'grant_type=client_credentials'
  })
  t.equal(res.statusCode, 500)
  t.same(res.json(), { error: 'server_error', error_description: 'Internal server error' })
  t.equal(count(logs, 'token exchange failed'), 1)
})

test('every other route: a 5xx message is masked and logged once; a client error keeps Fastify\'s shape', async (t) => {
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => { logs.push(line) } } } })
  app.setErrorHandler(defaultErrorHandler)
  app.get('/boom', async () => { throw new Error('SELECT password_hash FROM users') })
  app.post('/echo', async (request) => request.body)
  t.teardown(async () => await app.close())
  const boom = await app.inject({ method: 'GET', url: '/boom' })
  t.equal(boom.statusCode, 500)
  t.same(boom.json(), { statusCode: 500, error: 'Internal Server Error', message: 'Internal server error' })
  t.equal(count(logs, 'password_hash'), 1, 'the raw error is logged once, server-side')
  const bad = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: '{' })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'FST_ERR_CTP_INVALID_JSON_BODY')
})
