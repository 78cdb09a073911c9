import { randomBytes } from 'node:crypto'
import { test } from 'tap'
import { ManualClock } from '../../src/clock.ts'
import { sha256Base64url } from '../../src/crypto/hashing.ts'
import { buildTestApp, gql, signUp, uniqueEmail } from '../helper.ts'
import { EmailStatusDocument, ResendVerificationEmailDocument, VerifyEmailDocument } from '../support/generated/graphql.ts'
import { startCatcher, tokenOf } from '../support/mail.ts'

// docs/security.md item 42: email verification (single-use hashed tokens, expiry, rate-limited resend).

test('signUp mails a verification link; verifyEmail sets emailVerified once; the token is stored hashed and never logged', async (t) => {
  const catcher = await startCatcher(t)
  const { app, logs } = await buildTestApp(t, { env: { SMTP_URL: catcher.smtpUrl, APP_NAME: 'Acme Mail', PUBLIC_URL: 'https://id.example.com' } })
  const email = uniqueEmail()
  const s = await signUp(app, 'NATIVE', email)
  t.equal((await gql(app, EmailStatusDocument, {}, { token: s.accessToken })).data?.me.emailVerified, false)

  const mail = await catcher.waitFor(email)
  t.match(mail.subject, /Acme Mail/, 'the template names the app')
  t.match(mail.text, /https:\/\/id\.example\.com\/email\/verify\?token=/, 'plain text with the link to the server page')
  t.match(mail.html, /<a href="https:\/\/id\.example\.com\/email\/verify\?token=/, 'and HTML')
  t.match(mail.from, /no-reply@localhost/)
  const token = tokenOf(mail)
  t.notMatch(mail.text, new RegExp(s.accessToken.slice(-20)), 'no other secret in the mail')

  await app.mailOutbox.drain()
  const row = await app.prisma.emailToken.findFirstOrThrow({ where: { userId: s.user.id } })
  t.equal(row.tokenHash, sha256Base64url(token), 'only the SHA-256 is stored')
  t.equal(await app.prisma.mailOutbox.count(), 0, 'the sent mail left the outbox')

  const verified = await gql(app, VerifyEmailDocument, { token })
  t.equal(verified.errors, undefined)
  t.same(verified.data?.verifyEmail, { id: s.user.id, email, emailVerified: true })
  t.equal(await app.prisma.securityEvent.count({ where: { type: 'EMAIL_VERIFIED', userId: s.user.id } }), 1)

  const reused = await gql(app, VerifyEmailDocument, { token })
  t.equal(reused.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  t.equal(reused.errors?.[0]?.extensions.reason, 'EMAIL_TOKEN_INVALID', 'single use')

  t.notOk(logs.join('\n').includes(token), 'the token is in no log line')
  t.equal((await gql(app, ResendVerificationEmailDocument, {}, { token: s.accessToken })).data?.resendVerificationEmail, false, 'verified: nothing to resend')
})

test('expired, forged and wrong-purpose tokens are refused', async (t) => {
  const clock = new ManualClock()
  const catcher = await startCatcher(t)
  const { app } = await buildTestApp(t, { clock, env: { SMTP_URL: catcher.smtpUrl } })
  const email = uniqueEmail()
  const s = await signUp(app, 'NATIVE', email)
  const token = tokenOf(await catcher.waitFor(email))

  for (const [name, forged] of [
    ['random, well-formed', randomBytes(32).toString('base64url')],
    ['garbage', 'not-a-token'],
    ['the hash instead of the token', sha256Base64url(token)],
    ['empty', '']
  ] as const) {
    const res = await gql(app, VerifyEmailDocument, { token: forged })
    t.equal(res.errors?.[0]?.extensions.reason, 'EMAIL_TOKEN_INVALID', name)
  }

  // A password-reset token does not verify (and vice versa: resetPassword checks the purpose the same way).
  await app.passwordReset.request(email, { ip: '127.0.0.9' })
  await app.mailOutbox.drain()
  const resetMail = (await catcher.waitFor(email)) === catcher.messages[0] ? catcher.messages.find((m) => m.subject.includes('Reset')) : undefined
  t.ok(resetMail, 'a reset mail too')
  t.equal((await gql(app, VerifyEmailDocument, { token: tokenOf(resetMail!) })).errors?.[0]?.extensions.reason, 'EMAIL_TOKEN_INVALID', 'wrong purpose')

  clock.advance(24 * 3600 * 1000 + 1000)
  const expired = await gql(app, VerifyEmailDocument, { token })
  t.equal(expired.errors?.[0]?.extensions.reason, 'EMAIL_TOKEN_EXPIRED')
  t.equal((await app.prisma.user.findUniqueOrThrow({ where: { id: s.user.id } })).emailVerified, false)
})

test('resendVerificationEmail needs a session, mails a new link, and is rate-limited per user', async (t) => {
  const catcher = await startCatcher(t)
  const { app } = await buildTestApp(t, { env: { SMTP_URL: catcher.smtpUrl, VERIFICATION_EMAIL_MAX_PER_USER: '2' } })
  const email = uniqueEmail()
  const s = await signUp(app, 'NATIVE', email)
  await catcher.waitFor(email)
  t.equal((await gql(app, ResendVerificationEmailDocument)).errors?.[0]?.extensions.code, 'UNAUTHENTICATED')

  for (let i = 0; i < 2; i++) {
    t.equal((await gql(app, ResendVerificationEmailDocument, {}, { token: s.accessToken })).data?.resendVerificationEmail, true)
  }
  const limited = await gql(app, ResendVerificationEmailDocument, {}, { token: s.accessToken })
  t.equal(limited.errors?.[0]?.extensions.code, 'RATE_LIMITED')
  t.type(limited.errors?.[0]?.extensions.retryAfterSeconds, 'number')

  await app.mailOutbox.drain()
  const mails = catcher.messages.filter((m) => m.to.includes(email))
  t.equal(mails.length, 3, 'the sign-up mail and two resends')
  // Every mailed link works until one is used; then the others are void too.
  const tokens = mails.map(tokenOf)
  t.equal((await gql(app, VerifyEmailDocument, { token: tokens[2]! })).data?.verifyEmail.emailVerified, true)
  t.equal((await gql(app, VerifyEmailDocument, { token: tokens[0]! })).errors?.[0]?.extensions.reason, 'EMAIL_TOKEN_INVALID')
})
