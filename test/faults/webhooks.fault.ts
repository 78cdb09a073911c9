import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { reapServerBackends, requirePostgres, serverFixture, startServer, testSchema } from './support/harness.ts'
import { waitFor } from '../support/wait-for.ts'
import type { ServerOptions } from './support/harness.ts'

// Issue 23: a server SIGKILLed after an event was recorded and while its webhook was in flight still delivers it
// after the restart (its lease ends, the new process takes the delivery), with the same webhook-id; and an event
// recorded while no server ran is delivered by the next one to start.

const cluster = requirePostgres(t)
if (cluster != null) {
  t.test('SIGKILL mid-delivery: the restarted server delivers within 60 s, same webhook-id', async (t) => {
    const schema = await testSchema(t, cluster, 'webhooks')
    const fixture = await serverFixture(t)
    const options: ServerOptions = { ...fixture, databaseUrl: schema.databaseUrl, env: { WEBHOOK_TIMEOUT_MS: '5000', WEBHOOK_POLL_INTERVAL_MS: '100' } }

    // The receiver holds the first request unanswered (the server dies waiting), then answers 204.
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`
    const seen: Array<{ id: string, type: string }> = []
    let hold = true
    const held: ServerResponse[] = []
    const receiver = createServer((req: IncomingMessage, res) => {
      let raw = ''
      req.on('data', (c) => { raw += String(c) })
      req.on('end', () => {
        const body = new Webhook(secret).verify(raw, req.headers as Record<string, string>) as { type: string }
        seen.push({ id: String(req.headers['webhook-id']), type: body.type })
        if (hold) { held.push(res); return }
        res.statusCode = 204
        res.end()
      })
    })
    receiver.listen(0, '127.0.0.1')
    await once(receiver, 'listening')
    t.teardown(() => new Promise((resolve) => { receiver.closeAllConnections(); receiver.close(resolve) }))
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`

    let server = await startServer(t, options)
    await schema.query('INSERT INTO service_clients (id, name, secret_hash, worker) VALUES (\'igc_fault\', \'Fault backend\', \'x\', true)')
    await schema.query('INSERT INTO webhook_endpoints (id, client_id, url, event_types, secret) VALUES ($1, $2, $3, $4, $5)', ['wh_fault', 'igc_fault', url, [], secret])
    await schema.query('INSERT INTO webhook_events (id, type, user_id, data) VALUES (gen_random_uuid(), \'gmail.message.added\', NULL, \'{"messageId":"m1"}\')')
    await waitFor(() => seen.length === 1, 'the first attempt', 30_000)

    server.kill('SIGKILL')
    t.equal((await server.exited).signal, 'SIGKILL')
    await reapServerBackends(schema)
    // An event recorded while no server runs.
    await schema.query('INSERT INTO webhook_events (id, type, user_id, data) VALUES (gen_random_uuid(), \'user.deleted\', NULL, \'{}\')')
    hold = false
    server = await startServer(t, options)
    const restartedAt = Date.now()
    await waitFor(() => seen.filter((s) => s.type === 'gmail.message.added').length === 2, 'the delivery again after the restart', 90_000)
    t.ok(Date.now() - restartedAt < 60_000, `delivered again ${Math.round((Date.now() - restartedAt) / 1000)} s after the restart (the lease: timeout + 30 s from the claim)`)
    const [first, again] = seen.filter((s) => s.type === 'gmail.message.added')
    t.equal(again!.id, first!.id, 'the same webhook-id')
    await waitFor(() => seen.some((s) => s.type === 'user.deleted'), 'the event recorded while down', 30_000)
    const rows = (await schema.query('SELECT state, attempts FROM webhook_deliveries ORDER BY created_at')).rows
    t.same(rows.map((r) => r.state), ['DELIVERED', 'DELIVERED'])
    for (const res of held) res.destroy()
    await server.stop()
  })
}
