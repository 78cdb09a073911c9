import { once } from 'node:events'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'tap'
import { google } from 'googleapis'
import { OAuth2Client } from 'google-auth-library'
import { googleClientOptions } from '../../../emulators/google/app.ts'
import { ALICE, control, failure, signIn, startEmulator } from './helpers.ts'
import { waitFor } from '../../support/wait-for.ts'

const TOPIC = 'projects/inboxgate-test/topics/gmail'
const SA = 'gmail-push@inboxgate-test.iam.gserviceaccount.com'

interface Received { authorization: string | undefined, body: { message: { data: string, messageId: string }, subscription: string } }

/** A push endpoint that answers each request with the next status of `statuses` (then 204). */
async function endpoint (t: { teardown (fn: () => unknown): void }, statuses: number[] = []) {
  const received: Received[] = []
  const server = createServer((req: IncomingMessage, res) => {
    let data = ''
    req.on('data', c => { data += String(c) })
    req.on('end', () => {
      received.push({ authorization: req.headers.authorization, body: JSON.parse(data) })
      res.statusCode = statuses.shift() ?? 204
      res.end()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise(resolve => server.close(resolve)))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/google/pubsub`, received }
}

test('watch, a delivered message, the Pub/Sub push with a Google-signed OIDC token, history and messages.get', async t => {
  const emulator = await startEmulator(t, { push: { retryDelaysMs: [50, 50] } })
  const push = await endpoint(t, [503])
  await control(emulator, 'POST', '/pubsub/subscription', { endpoint: push.url, serviceAccountEmail: SA })
  const { client } = await signIn(emulator, { user: ALICE.email })
  const gmail = google.gmail({ version: 'v1', auth: client, rootUrl: `${emulator.baseUrl}/` })

  const watch = (await gmail.users.watch({ userId: 'me', requestBody: { topicName: TOPIC, labelIds: ['INBOX'] } })).data
  t.match(watch, { historyId: /^\d+$/, expiration: /^\d+$/ })
  const start = watch.historyId!

  const quiet = await gmail.users.history.list({ userId: 'me', startHistoryId: start, historyTypes: ['messageAdded'] })
  t.notOk(quiet.data.history, 'no history key when nothing changed')

  const { body: delivered } = await control(emulator, 'POST', '/gmail/deliver', { user: ALICE.email, subject: 'Receipt #1' })
  t.ok(delivered.pushed, 'a watched mailbox publishes')
  await waitFor(() => push.received.length >= 2, 'the push again after the 503', 5000)
  t.equal(push.received.length, 2, 'a 503 is retried')
  const [first, second] = push.received
  t.equal(first!.body.message.messageId, second!.body.message.messageId, 'a retry keeps the messageId')
  const data = JSON.parse(Buffer.from(second!.body.message.data, 'base64').toString())
  t.same(data, { emailAddress: ALICE.email, historyId: Number(delivered.historyId) })

  // The OIDC token verifies with google-auth-library against the emulator's certs, as Google documents.
  const verifier = new OAuth2Client({ endpoints: googleClientOptions(emulator.baseUrl).endpoints })
  const ticket = await verifier.verifyIdToken({ idToken: second!.authorization!.replace(/^Bearer /, ''), audience: push.url })
  t.match(ticket.getPayload(), { email: SA, email_verified: true, aud: push.url, iss: 'https://accounts.google.com' })

  const history = (await gmail.users.history.list({ userId: 'me', startHistoryId: start, historyTypes: ['messageAdded'] })).data
  t.equal(history.history?.length, 1)
  t.equal(history.history?.[0]?.messagesAdded?.[0]?.message?.id, delivered.id)
  t.equal(history.historyId, delivered.historyId)
  const message = (await gmail.users.messages.get({ userId: 'me', id: delivered.id, format: 'metadata' })).data
  t.match(message.payload?.headers, [{ name: 'From' }, { name: 'To' }, { name: 'Subject', value: 'Receipt #1' }])

  await control(emulator, 'POST', '/gmail/expire-history', { user: ALICE.email })
  const old = await failure(gmail.users.history.list({ userId: 'me', startHistoryId: start }))
  t.equal(old.status, 404, 'a start older than the history kept is a 404')

  await gmail.users.stop({ userId: 'me' })
  const { body: after } = await control(emulator, 'POST', '/gmail/deliver', { user: ALICE.email })
  t.equal(after.pushed, null, 'no push once stopped')
})

test('watch refuses a malformed topic and a token without a Gmail scope', async t => {
  const emulator = await startEmulator(t)
  const { client } = await signIn(emulator, { user: ALICE.email })
  const gmail = google.gmail({ version: 'v1', auth: client, rootUrl: `${emulator.baseUrl}/` })
  t.equal((await failure(gmail.users.watch({ userId: 'me', requestBody: { topicName: 'gmail' } }))).status, 400)
  const { client: bare } = await signIn(emulator, { user: ALICE.email, scope: ['openid', 'email'] })
  const noScope = google.gmail({ version: 'v1', auth: bare, rootUrl: `${emulator.baseUrl}/` })
  t.equal((await failure(noScope.users.watch({ userId: 'me', requestBody: { topicName: TOPIC } }))).status, 403)
})
