import { spawn } from 'node:child_process'
import path from 'node:path'
import { test } from 'tap'
import { freePort } from '../support/free-port.ts'
import { ALICE, connectWithTokens } from '../gmail/helpers.ts'
import { waitFor } from '../support/wait-for.ts'
import { buildPushApp } from './support.ts'

// The whole loop of docs/events.md: mail arrives at Gmail → Pub/Sub push → inboxgate → signed webhook →
// `npm run example:worker -- --listen <port>` verifies it, exchanges for a token and prints the subject.

const root = path.resolve(import.meta.dirname, '..', '..')

test('the example worker receives the webhook, exchanges for a token and reads the new message', async (t) => {
  const ctx = await buildPushApp(t)
  const worker = await ctx.app.serviceClients.create('Receipt scanner', true, true)
  const port = await freePort()
  const hook = await ctx.app.webhookEndpoints.create(worker.clientId, `http://127.0.0.1:${port}/`, ['gmail.message.added'])
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/worker/worker.ts', '--listen', String(port)], {
    cwd: root,
    env: {
      ...process.env,
      INBOXGATE_URL: ctx.url,
      INBOXGATE_CLIENT_ID: worker.clientId,
      INBOXGATE_CLIENT_SECRET: worker.clientSecret,
      INBOXGATE_WEBHOOK_SECRET: hook.secret,
      GMAIL_API_URL: ctx.google.baseUrl
    }
  })
  t.teardown(() => { child.kill() })
  let out = ''
  let err = ''
  child.stdout.on('data', (c) => { out += String(c) })
  child.stderr.on('data', (c) => { err += String(c) })
  await waitFor(() => err.includes('listening for inboxgate webhooks'), 'the worker to listen')

  await connectWithTokens(ctx)
  await waitFor(() => ctx.google.state.push.watches.size === 1, 'the watch')
  ctx.google.state.push.deliver(ctx.google.state.findUser(ALICE.email)!, { subject: 'Invoice INV-7 paid' })
  await waitFor(() => out.includes('new message: Invoice INV-7 paid'), `the worker's output (stdout: ${out}; stderr: ${err})`)
  t.match(out, /gmail\.message\.added msg_\S+ for user /)
  t.notMatch(out + err, /ya29\.|1\/\/0/, 'no Google token printed')
})
