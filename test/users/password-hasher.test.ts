import { test } from 'tap'
import { PasswordHasher } from '../../src/users/password-hasher.ts'

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
