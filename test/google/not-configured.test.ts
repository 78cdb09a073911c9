import { test } from 'tap'
import { buildTestApp, gql, signUp } from '../helper.ts'
import { ConnectGmailDocument, GmailProfileDocument, GmailStatusDocument, SignInWithGoogleDocument } from '../support/generated/graphql.ts'

// Issue 25 item 2: without GOOGLE_CLIENT_ID the Google-only plugins (RISC, Gmail push) are not registered and
// `app.googleGateway` is not decorated; what needs Google answers GOOGLE_NOT_CONFIGURED, what does not still works.

test('without Google configured: no gateway, no Google-only routes, GOOGLE_NOT_CONFIGURED where Google is needed', async (t) => {
  const { app } = await buildTestApp(t, { env: { GMAIL_PUSH_TOPIC: 'projects/my-project/topics/gmail', GMAIL_PUSH_AUDIENCE: 'https://api.example/google/pubsub', GMAIL_PUSH_SERVICE_ACCOUNT: 'push@p.iam.gserviceaccount.com' } })
  t.equal(app.hasDecorator('google'), false, 'no gateway decorated')
  t.equal(app.hasDecorator('riscVerifier'), false, 'the RISC plugin is not registered')

  t.equal((await app.inject({ method: 'POST', url: '/google/risc', payload: 'x', headers: { 'content-type': 'application/secevent+jwt' } })).statusCode, 404)
  t.equal((await app.inject({ method: 'POST', url: '/google/pubsub', payload: '{}', headers: { authorization: 'Bearer a.b.c', 'content-type': 'application/json' } })).statusCode, 404)

  const signIn = await gql(app, SignInWithGoogleDocument, { idToken: 'a.b.c' })
  t.equal(signIn.errors?.[0]?.extensions.code, 'GOOGLE_NOT_CONFIGURED')

  const user = await signUp(app)
  const status = await gql(app, GmailStatusDocument, {}, { token: user.accessToken })
  t.equal(status.errors, undefined, 'gmailStatus needs no Google')
  t.equal(status.data?.gmailStatus.state, 'NOT_CONNECTED')
  const connect = await gql(app, ConnectGmailDocument, { input: { accessToken: 'ya29.x', refreshToken: '1//x' } }, { token: user.accessToken })
  t.equal(connect.errors?.[0]?.extensions.code, 'GOOGLE_NOT_CONFIGURED')
  const profile = await gql(app, GmailProfileDocument, {}, { token: user.accessToken })
  t.ok(profile.errors?.[0]?.extensions.code != null, 'gmailProfile answers an error with a code')

  const ready = await app.inject({ url: '/health/ready' })
  t.equal(ready.json().checks.google, 'not_configured')
})
