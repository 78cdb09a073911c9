import { randomBytes, randomUUID } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { inspect } from 'node:util'
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  InvalidRequestException,
  ListSecretsCommand,
  PutSecretValueCommand,
  SecretsManagerClient
} from '@aws-sdk/client-secrets-manager'
import t, { test } from 'tap'
import type { Test } from 'tap'
import { ErrorCodes } from '../../src/errors.ts'
import { AwsSecretsManagerVault, createSecretsManagerClient } from '../../src/vault/aws-secrets-manager-vault.ts'
import { createTokenVault } from '../../src/vault/index.ts'
import { VAULT_UNAVAILABLE_MESSAGE } from '../../src/vault/token-vault.ts'
import type { GmailTokenBundle } from '../../src/vault/token-vault.ts'
import { gmailBundle } from '../support/fixtures.ts'
import { startMoto, useMotoEnv } from '../support/moto.ts'

// A real moto_server, reached the way production reaches AWS: through the SDK's own AWS_ENDPOINT_URL support.
const moto = await startMoto({ persistent: true })
// Root teardown runs once the root test ends; t.end() at the bottom ends it when the queued tests are done
// (otherwise the root waits for the event loop to drain, which moto's child process never lets happen).
t.teardown(() => moto.stop())
useMotoEnv(t, moto)

/** Looks at moto directly, bypassing the vault. */
const admin = new SecretsManagerClient({})
t.teardown(() => admin.destroy())

// This file's sample differs from the shared one only in scope.
const makeBundle = (overrides: Partial<GmailTokenBundle> = {}): GmailTokenBundle => gmailBundle({ scope: ['https://www.googleapis.com/auth/gmail.readonly', 'openid'], ...overrides })

function makeVault (t: Test, options: ConstructorParameters<typeof AwsSecretsManagerVault>[0] = {}) {
  const vault = new AwsSecretsManagerVault(options)
  t.teardown(() => vault.close())
  return vault
}

/** Records the SDK commands a client sends, in order. */
function recordCommands (client: SecretsManagerClient): string[] {
  const seen: string[] = []
  client.middlewareStack.add((next, context) => async (args) => {
    seen.push(context.commandName ?? '?')
    return next(args)
  }, { step: 'initialize', name: 'recordCommands', priority: 'high' })
  return seen
}

async function describe (name: string) {
  return admin.send(new DescribeSecretCommand({ SecretId: name }))
}

/** Asserts the error is the client-facing VAULT_UNAVAILABLE and that no token appears anywhere in it. */
function assertOpaqueOutage (t: Test, err: unknown, secrets: string[]) {
  t.equal((err as { code?: unknown }).code, ErrorCodes.VAULT_UNAVAILABLE)
  t.equal((err as Error).message, VAULT_UNAVAILABLE_MESSAGE)
  const renderings = [
    JSON.stringify(err),
    inspect(err, { depth: null, showHidden: true }),
    String((err as Error).cause),
    (err as Error).stack ?? ''
  ].join('\n')
  for (const s of secrets) t.notOk(renderings.includes(s), 'no token in the error, its cause or its stack')
}

async function timed (p: Promise<unknown>): Promise<{ ms: number, error: unknown }> {
  const start = performance.now()
  try {
    await p
    return { ms: performance.now() - start, error: undefined }
  } catch (error) {
    return { ms: performance.now() - start, error }
  }
}

test('round trip under the name gmail/user/<userId>', async (t) => {
  const vault = makeVault(t)
  const userId = randomUUID()
  const bundle = makeBundle()
  t.equal(await vault.get(userId), null, 'absent before the first put')

  await vault.put(userId, { ...bundle, extra: 'not stored' } as GmailTokenBundle)
  t.same(await vault.get(userId), bundle)

  const name = `gmail/user/${userId}`
  const listed = await admin.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [name] }] }))
  t.same(listed.SecretList?.map((s) => s.Name), [name], 'exactly one secret with exactly that name')
  const raw = await admin.send(new GetSecretValueCommand({ SecretId: name }))
  t.same(JSON.parse(raw.SecretString ?? ''), bundle, 'the secret is the bundle as JSON, unknown fields dropped')
})

test('put overwrites, keeping one secret', async (t) => {
  const vault = makeVault(t)
  const userId = randomUUID()
  const first = makeBundle()
  const second = makeBundle({ scope: ['https://www.googleapis.com/auth/gmail.readonly'] })
  await vault.put(userId, first)
  await vault.put(userId, second)
  t.same(await vault.get(userId), second)
  const d = await describe(`gmail/user/${userId}`)
  const current = Object.values(d.VersionIdsToStages ?? {}).filter((stages) => stages.includes('AWSCURRENT'))
  t.equal(current.length, 1, 'one AWSCURRENT version')
})

test('delete is immediate and idempotent, and the name is reusable at once', async (t) => {
  const vault = makeVault(t)
  const userId = randomUUID()
  const name = `gmail/user/${userId}`
  await vault.put(userId, makeBundle())
  await vault.delete(userId)
  t.equal(await vault.get(userId), null)

  // Forced deletion: no recovery window, so the secret is gone rather than "scheduled for deletion".
  await t.rejects(describe(name), { name: 'ResourceNotFoundException' })
  await vault.delete(userId)
  await vault.delete(randomUUID())
  t.pass('deleting twice and deleting a never-stored user both resolve')

  const reconnect = makeBundle()
  await vault.put(userId, reconnect)
  t.same(await vault.get(userId), reconnect, 'reconnect right after a disconnect works')

  await vault.delete(userId)
  const created = await admin.send(new CreateSecretCommand({ Name: name, SecretString: '{}' }))
  t.equal(created.Name, name, 'CreateSecret accepts the name right after the vault deleted it')
  await admin.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }))
})

test('a secret scheduled for deletion reads as absent and is restored and overwritten by put', async (t) => {
  const userId = randomUUID()
  const name = `gmail/user/${userId}`
  await makeVault(t).put(userId, makeBundle())
  await admin.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 7 }))
  t.ok((await describe(name)).DeletedDate, 'scheduled for deletion (recovery window)')

  // Moto 5.2.1 accepts PutSecretValue on a secret scheduled for deletion and leaves it deleted; AWS refuses with
  // InvalidRequestException (its documented first cause). This shim restores AWS's answer from moto's own state,
  // so the vault's restore path is what is under test, not moto's gap.
  const client = createSecretsManagerClient()
  client.middlewareStack.add((next, context) => async (args) => {
    if (context.commandName === 'PutSecretValueCommand') {
      const d = await describe(name)
      if (d.DeletedDate !== undefined) {
        throw new InvalidRequestException({
          message: "You can't perform this operation on the secret because it was marked for deletion.",
          $metadata: { httpStatusCode: 400 }
        })
      }
    }
    return next(args)
  }, { step: 'initialize', name: 'awsParityScheduledForDeletion' })
  const sent = recordCommands(client)
  t.teardown(() => client.destroy())
  const vault = makeVault(t, { client })

  t.equal(await vault.get(userId), null, 'scheduled for deletion reads as absent')
  const fresh = makeBundle()
  sent.length = 0
  await vault.put(userId, fresh)
  t.same(sent, ['PutSecretValueCommand', 'RestoreSecretCommand', 'PutSecretValueCommand'])
  t.equal((await describe(name)).DeletedDate, undefined, 'no longer scheduled for deletion')
  t.same(await vault.get(userId), fresh, 'the new grant replaced the old one')
})

test('moto quirk, recorded: PutSecretValue on a secret scheduled for deletion', async (t) => {
  const name = `gmail/user/${randomUUID()}`
  await admin.send(new CreateSecretCommand({ Name: name, SecretString: 'a' }))
  await admin.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 7 }))
  try {
    await admin.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'b' }))
    t.comment('moto accepted it (AWS would answer InvalidRequestException); the shim above is still needed')
  } catch (err) {
    t.comment(`moto now answers ${(err as Error).name}, like AWS; the shim above has become a no-op`)
  }
  await admin.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }))
  t.pass()
})

test('two creators colliding: the loser overwrites instead of failing', async (t) => {
  const userId = randomUUID()
  const other = makeVault(t)
  const client = createSecretsManagerClient()
  t.teardown(() => client.destroy())
  const otherBundle = makeBundle({ email: 'other@example.com' })
  // Let the other instance create the secret between this vault's PutSecretValue (not found) and its CreateSecret.
  client.middlewareStack.add((next, context) => async (args) => {
    if (context.commandName === 'CreateSecretCommand') await other.put(userId, otherBundle)
    return next(args)
  }, { step: 'initialize', name: 'collide' })
  const sent = recordCommands(client)
  const vault = makeVault(t, { client })

  const mine = makeBundle()
  await vault.put(userId, mine)
  t.same(sent, ['PutSecretValueCommand', 'CreateSecretCommand', 'PutSecretValueCommand'])
  t.same(await vault.get(userId), mine, 'last writer wins')
})

test('concurrent puts for a new user all resolve to one stored bundle', async (t) => {
  const userId = randomUUID()
  const bundles = Array.from({ length: 6 }, () => makeBundle())
  const vaults = bundles.map(() => makeVault(t))
  await Promise.all(vaults.map((v, i) => v.put(userId, bundles[i] as GmailTokenBundle)))
  const stored = await makeVault(t).get(userId)
  t.ok(bundles.some((b) => JSON.stringify(b) === JSON.stringify(stored)), 'one of the written bundles, intact')
})

test('KMS key id and tags are passed to CreateSecret', async (t) => {
  // A real moto KMS key (moto does not sign-check by default, so a bare JSON call is enough).
  const res = await fetch(moto.endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'TrentService.CreateKey',
      authorization: 'AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0'
    },
    body: JSON.stringify({ Description: 'inboxgate vault test' })
  })
  const keyArn = ((await res.json()) as { KeyMetadata: { Arn: string } }).KeyMetadata.Arn
  t.match(keyArn, /^arn:aws:kms:us-east-1:\d+:key\//)

  const userId = randomUUID()
  const vault = makeVault(t, { kmsKeyId: keyArn, tags: { app: 'inboxgate' } })
  await vault.put(userId, makeBundle())
  const d = await describe(`gmail/user/${userId}`)
  t.equal(d.KmsKeyId, keyArn)
  t.same(d.Tags, [{ Key: 'app', Value: 'inboxgate' }])

  const plainUser = randomUUID()
  await makeVault(t).put(plainUser, makeBundle())
  t.equal((await describe(`gmail/user/${plainUser}`)).KmsKeyId, undefined, 'no key id unless configured')
})

test('a custom prefix is used verbatim', async (t) => {
  const vault = makeVault(t, { prefix: 'staging/gmail/' })
  const userId = randomUUID()
  await vault.put(userId, makeBundle())
  t.ok((await describe(`staging/gmail/${userId}`)).ARN)
  t.throws(() => new AwsSecretsManagerVault({ prefix: 'bad prefix!' }), TypeError)
})

test('invalid input is refused before any AWS call', async (t) => {
  const client = createSecretsManagerClient()
  t.teardown(() => client.destroy())
  const sent = recordCommands(client)
  const vault = makeVault(t, { client })
  for (const bad of ['../../other', 'ABCDEF00-0000-4000-8000-000000000000', '', `${randomUUID()}/x`]) {
    await t.rejects(vault.get(bad), TypeError)
    await t.rejects(vault.put(bad, makeBundle()), TypeError)
    await t.rejects(vault.delete(bad), TypeError)
  }
  const bundle = makeBundle({ refreshToken: '' })
  await t.rejects(vault.put(randomUUID(), bundle), TypeError, 'an invalid bundle is not stored')
  t.same(sent, [], 'nothing reached AWS')
})

test('garbage in the secret is a VAULT_UNAVAILABLE error that does not echo it', async (t) => {
  const vault = makeVault(t)
  for (const garbage of ['not json ya29.LEAKED-1', JSON.stringify({ version: 1, accessToken: 'ya29.LEAKED-2' })]) {
    const userId = randomUUID()
    await admin.send(new CreateSecretCommand({ Name: `gmail/user/${userId}`, SecretString: garbage }))
    const err = await vault.get(userId).then(() => null, (e: unknown) => e)
    t.equal((err as { code?: string }).code, ErrorCodes.VAULT_UNAVAILABLE)
    const rendered = inspect(err, { depth: null, showHidden: true }) + JSON.stringify(err)
    t.notOk(rendered.includes('LEAKED'), 'the stored content is not in the error')
  }
})

test('outage: moto killed mid-operation, then restarted with nothing lost', async (t) => {
  const vault = makeVault(t, { maxAttempts: 3 })
  const userId = randomUUID()
  const before = makeBundle()
  await vault.put(userId, before)
  const errorsBefore = vault.stats().errors

  await moto.stop()
  const during = makeBundle()
  for (const [op, call] of [
    ['get', () => vault.get(userId)],
    ['put', () => vault.put(userId, during)],
    ['delete', () => vault.delete(userId)]
  ] as const) {
    const { ms, error } = await timed(call())
    t.ok(error, `${op} rejects while the vault is down`)
    t.ok(ms < 5000, `${op} fails within a bounded time (${Math.round(ms)} ms)`)
    assertOpaqueOutage(t, error, [before.accessToken, before.refreshToken, during.accessToken, during.refreshToken])
  }
  t.equal(vault.stats().errors - errorsBefore, 3)

  await moto.restart()
  t.same(await vault.get(userId), before, 'the failed delete deleted nothing and the failed put overwrote nothing')
  await vault.put(userId, during)
  t.same(await vault.get(userId), during, 'writes work again')
})

test('hung endpoint: requests time out instead of hanging, and recover', async (t) => {
  const vault = makeVault(t, { requestTimeoutMs: 400, connectionTimeoutMs: 400, maxAttempts: 2 })
  const userId = randomUUID()
  const bundle = makeBundle()
  await vault.put(userId, bundle)

  moto.pause()
  let resumed = false
  t.teardown(() => {
    if (!resumed) moto.resume()
  })
  const { ms, error } = await timed(vault.get(userId))
  moto.resume()
  resumed = true
  t.ok(ms < 3000, `bounded by the request timeout × attempts (${Math.round(ms)} ms)`)
  assertOpaqueOutage(t, error, [bundle.accessToken, bundle.refreshToken])
  t.match((error as Error).cause, { name: 'SecretsManagerFailure', attempts: 2, message: /TimeoutError/ })
  t.same(await vault.get(userId), bundle)
})

/** A stand-in Secrets Manager answering each request from a script, for failures moto cannot produce. */
async function faultServer (t: Test, answers: Array<(body: string) => { status: number, body: unknown }>) {
  let count = 0
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      const answer = answers[Math.min(count, answers.length - 1)] as (b: string) => { status: number, body: unknown }
      count++
      const out = answer(body)
      res.writeHead(out.status, { 'content-type': 'application/x-amz-json-1.1' })
      res.end(JSON.stringify(out.body))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => count }
}

const throttled = () => ({ status: 400, body: { __type: 'ThrottlingException', message: 'Rate exceeded' } })

test('throttling is retried with backoff by the SDK, then succeeds', async (t) => {
  const userId = randomUUID()
  const bundle = makeBundle()
  const fault = await faultServer(t, [throttled, throttled, () => ({
    status: 200,
    body: { ARN: 'arn', Name: `gmail/user/${userId}`, VersionId: 'v', SecretString: JSON.stringify(bundle) }
  })])
  const vault = makeVault(t, { endpoint: fault.url, maxAttempts: 3 })
  t.same(await vault.get(userId), bundle)
  t.equal(fault.requests(), 3)
})

test('throttling and 5xx beyond maxAttempts become VAULT_UNAVAILABLE', async (t) => {
  const bundle = makeBundle()
  for (const answer of [throttled, () => ({ status: 503, body: { __type: 'ServiceUnavailable', message: 'down' } })]) {
    const fault = await faultServer(t, [answer])
    const vault = makeVault(t, { endpoint: fault.url, maxAttempts: 2 })
    const err = await vault.put(randomUUID(), bundle).then(() => null, (e: unknown) => e)
    assertOpaqueOutage(t, err, [bundle.accessToken, bundle.refreshToken])
    t.equal(fault.requests(), 2, 'exactly maxAttempts requests')
  }
})

test('missing credentials become VAULT_UNAVAILABLE', async (t) => {
  const client = new SecretsManagerClient({
    credentials: async () => { throw new Error('Could not load credentials from any providers') }
  })
  t.teardown(() => client.destroy())
  const err = await makeVault(t, { client }).get(randomUUID()).then(() => null, (e: unknown) => e)
  assertOpaqueOutage(t, err, [])
})

test('createTokenVault builds the AWS vault from plain config', async (t) => {
  const vault = await createTokenVault({ kind: 'aws', prefix: 'factory/gmail/', region: 'us-east-1' })
  t.teardown(() => vault.close())
  t.equal(vault.kind, 'aws')
  const userId = randomUUID()
  const bundle = makeBundle()
  await vault.put(userId, bundle)
  t.same(await vault.get(userId), bundle)
  t.ok((await describe(`factory/gmail/${userId}`)).ARN)
})

test('stats count calls and failures', async (t) => {
  const vault = makeVault(t)
  const userId = randomUUID()
  await vault.put(userId, makeBundle())
  await vault.get(userId)
  await vault.get(randomUUID())
  await vault.delete(userId)
  await vault.get('nope').catch(() => {})
  t.same(vault.stats(), { reads: 3, writes: 1, deletes: 1, errors: 1 })
})

test('list: every user under the prefix, across pages; other names and deleted secrets are not users', async (t) => {
  // A prefix of this test's own: moto is shared by the whole file.
  const prefix = `list-${randomBytes(4).toString('hex')}/gmail/user/`
  const vault = makeVault(t, { prefix, listPageSize: 2 })
  const users = [randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID()]
  for (const id of users) await vault.put(id, makeBundle())
  await admin.send(new CreateSecretCommand({ Name: `${prefix}not-a-user`, SecretString: '{}' }))
  await admin.send(new CreateSecretCommand({ Name: `${prefix.toUpperCase()}${randomUUID()}`, SecretString: '{}' }))
  await admin.send(new CreateSecretCommand({ Name: `other/${prefix}${randomUUID()}`, SecretString: '{}' }))
  await admin.send(new DeleteSecretCommand({ SecretId: `${prefix}${users[4]}`, RecoveryWindowInDays: 7 }))
  await vault.delete(users[3]!)

  const seen = recordCommands(admin)
  const listed = await vault.list()
  t.same(listed, { userIds: users.slice(0, 3).sort(), unidentified: 1 }, 'the live users; a name that is no user id is counted, not returned')
  t.equal(seen.length, 0, '(the vault has its own client)')
  const byOwnClient = new AwsSecretsManagerVault({ client: admin, prefix, listPageSize: 2 })
  await byOwnClient.list()
  t.ok(seen.filter((c) => c === 'ListSecretsCommand').length >= 2, 'more than one page was read')
  t.notOk(JSON.stringify(listed).includes('1//'), 'no secret value')
})

t.end()
