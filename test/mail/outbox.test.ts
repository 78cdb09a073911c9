import { test } from 'tap'
import { ManualClock } from '../../src/clock.ts'
import { buildTestApp, gql, signUp, uniqueEmail } from '../helper.ts'
import { VerifyEmailDocument } from '../support/generated/graphql.ts'
import { startCatcher, tokenOf } from '../support/mail.ts'

// docs/security.md item 45: mail is queued and retried; an SMTP outage never fails the operation that wanted it.

test('an SMTP outage does not fail signUp; the mail arrives after recovery, and the failed attempt\'s token is void', async (t) => {
  const clock = new ManualClock()
  const catcher = await startCatcher(t)
  const { app, logs } = await buildTestApp(t, { clock, env: { SMTP_URL: catcher.smtpUrl } })
  catcher.setFault('down')
  const email = uniqueEmail()
  const s = await signUp(app, 'NATIVE', email)
  t.ok(s.accessToken, 'signUp succeeded during the outage')
  await app.mailOutbox.drain()
  const row = await app.prisma.mailOutbox.findFirstOrThrow({ where: { userId: s.user.id } })
  t.match(row, { kind: 'VERIFY_EMAIL', attempts: 1, lastError: 'SMTP_421' }, 'kept for a retry, with the reply code only')
  t.equal(catcher.messages.length, 0)
  t.equal(await app.mailOutbox.drain(), 0, 'not retried before its backoff')

  catcher.setFault(null)
  clock.advance(5_000)
  t.equal(await app.mailOutbox.drain(), 1, 'sent on the retry')
  const mail = await catcher.waitFor(email)
  t.equal(await app.prisma.emailToken.count({ where: { userId: s.user.id } }), 1, 'the token minted by the failed attempt was deleted')
  t.equal(await app.prisma.mailOutbox.count(), 0)
  t.equal((await gql(app, VerifyEmailDocument, { token: tokenOf(mail) })).data?.verifyEmail.emailVerified, true, 'the link of the mail that arrived works')
  const all = logs.join('\n')
  t.match(all, /mail not sent; will retry/)
  t.notOk(all.includes(tokenOf(mail)), 'no token in the logs')
})

test('a mail that cannot be sent before its token would expire is dropped, and the user can ask again', async (t) => {
  const clock = new ManualClock()
  const catcher = await startCatcher(t)
  const { app, logs } = await buildTestApp(t, { clock, env: { SMTP_URL: catcher.smtpUrl, PASSWORD_RESET_TTL_SECONDS: '600' } })
  const email = uniqueEmail()
  await signUp(app, 'NATIVE', email)
  await app.mailOutbox.drain()
  catcher.setFault('down')
  await app.passwordReset.request(email, { ip: '127.0.0.2' })
  await app.mailOutbox.drain()
  clock.advance(601_000)
  catcher.setFault(null)
  await app.mailOutbox.drain()
  t.equal(await app.prisma.mailOutbox.count(), 0, 'dropped')
  t.equal(catcher.messages.filter((m) => /Reset/.test(m.subject)).length, 0, 'never sent')
  t.equal(await app.prisma.emailToken.count({ where: { purpose: 'PASSWORD_RESET' } }), 0, 'no token left behind')
  t.match(logs.join('\n'), /mail dropped unsent: expired/)
})

test('without SMTP_URL mail is queued, not sent, and sign-up works', async (t) => {
  const { app, logs } = await buildTestApp(t)
  const s = await signUp(app, 'NATIVE')
  t.equal(await app.prisma.mailOutbox.count({ where: { userId: s.user.id } }), 1)
  t.equal(await app.mailOutbox.drain(), 0)
  t.match(logs.join('\n'), /SMTP_URL is not set/)
})
