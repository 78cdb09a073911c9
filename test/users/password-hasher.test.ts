import { test } from 'tap'
import { PasswordHasher } from '../../src/users/password-hasher.ts'
import { Errors, isError } from '../../src/errors.ts'

test('at most `concurrency` Argon2 hashes at once; the rest queue in order and all complete', async (t) => {
  const hasher = new PasswordHasher(1)
  const passwords = ['first password', 'second password', 'third password', 'fourth password']
  const finished: number[] = []
  const hashes = await Promise.all(passwords.map(async (p, i) => {
    const h = await hasher.hash(p)
    finished.push(i)
    return h
  }))
  t.same(finished, [0, 1, 2, 3], 'one at a time, first come first served')
  const checks = await Promise.all([
    ...passwords.map((p, i) => hasher.verify(hashes[i], p)),
    hasher.verify(hashes[0], 'wrong password'),
    hasher.verify(null, 'no such user')
  ])
  t.same(checks, [true, true, true, true, false, false])
})

test('beyond PASSWORD_HASH_QUEUE_MAX a hash is refused at once: RATE_LIMITED, reason SERVER_BUSY, retryAfterSeconds', async (t) => {
  const hasher = new PasswordHasher(1, 2)
  const settled: string[] = []
  const outcomes = await Promise.allSettled(Array.from({ length: 10 }, async (_, i) => {
    try {
      const h = await hasher.hash(`password number ${i}`)
      settled.push('hashed')
      return h
    } catch (err) {
      settled.push('refused')
      throw err
    }
  }))
  t.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 3, '1 running + 2 queued are hashed')
  const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected').map((o) => o.reason)
  t.equal(refused.length, 7)
  for (const err of refused) {
    t.ok(isError(err, Errors.serverBusy), 'RATE_LIMITED / SERVER_BUSY')
    t.ok(err.details.retryAfterSeconds >= 1)
  }
  t.same(settled.slice(0, 7), Array(7).fill('refused'), 'refusals answer before any hash finishes (no waiting, no CPU)')
  t.equal(hasher.queued, 0)

  // verify() refuses the same way, rather than answering "wrong password"; the dummy hash recovers afterwards.
  const stored = await hasher.hash('correct horse')
  const burst = await Promise.allSettled([...Array(6)].map(async (_, i) => await hasher.verify(i % 2 === 0 ? stored : null, 'correct horse')))
  t.ok(burst.some((o) => o.status === 'rejected' && isError(o.reason, Errors.serverBusy)), 'some verifies refused as busy')
  t.ok(burst.every((o) => o.status === 'rejected' || typeof o.value === 'boolean'))
  t.same(await Promise.all([hasher.verify(stored, 'correct horse'), hasher.verify(null, 'correct horse')]), [true, false], 'then all is well')
})

test('hashes at OWASP\'s first setting by default, at the configured cost otherwise; verifies either', async (t) => {
  const owasp = await new PasswordHasher(1).hash('a password')
  t.match(owasp, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
  const cheap = new PasswordHasher(1, 64, { memoryCost: 1024, timeCost: 1 })
  const low = await cheap.hash('a password')
  t.match(low, /^\$argon2id\$v=19\$m=1024,t=1,p=1\$/)
  t.same(await Promise.all([cheap.verify(owasp, 'a password'), new PasswordHasher(1).verify(low, 'a password'), cheap.verify(owasp, 'another')]), [true, true, false],
    'a stored hash is checked at the cost it names')
})
