import { spawn, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'tap'
import { DataDirLockedError, lockDataDir } from '../../src/db/data-dir-lock.ts'

// Issue 20, item 1: one process at a time on an embedded database directory; a lock left by a dead process
// (SIGKILL) or naming a reused PID does not block.

const lockOf = (dir: string) => JSON.parse(readFileSync(`${dir}.lock`, 'utf8')) as { pid: number, startTime: string | null, token: string }

test('a held directory is refused, also within one process; released, it can be taken again', async (t) => {
  const dir = path.join(t.testdir({}), 'pglite')
  const release = lockDataDir(dir)
  t.equal(lockOf(dir).pid, process.pid)
  t.throws(() => lockDataDir(dir), DataDirLockedError)
  t.throws(() => lockDataDir(dir), new RegExp(`in use by another process \\(PID ${process.pid}`))
  release()
  release() // twice is harmless
  const again = lockDataDir(dir)
  again()
})

test('a lock whose process is dead (SIGKILL) is taken over', async (t) => {
  const dir = path.join(t.testdir({}), 'pglite')
  const dead = spawnSync(process.execPath, ['-e', 'process.kill(process.pid, "SIGKILL")'])
  t.equal(dead.signal, 'SIGKILL')
  writeFileSync(`${dir}.lock`, JSON.stringify({ pid: dead.pid, startTime: null, command: 'server.js', since: new Date().toISOString(), token: 'x' }))
  const release = lockDataDir(dir)
  t.equal(lockOf(dir).pid, process.pid)
  release()
})

test('a reused PID is not the holder: our own PID without our lock, or a live PID that started at another time', async (t) => {
  const dir = path.join(t.testdir({}), 'pglite')
  // A container restarted after a crash: the new server has the dead one's PID.
  writeFileSync(`${dir}.lock`, JSON.stringify({ pid: process.pid, startTime: null, command: 'server.js', since: '', token: 'old' }))
  lockDataDir(dir)()
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' })
  t.teardown(() => { child.kill('SIGKILL') })
  await new Promise((resolve) => child.once('spawn', resolve))
  writeFileSync(`${dir}.lock`, JSON.stringify({ pid: child.pid, startTime: '1', command: 'server.js', since: '', token: 'old' }))
  if (process.platform === 'linux') lockDataDir(dir)()
  // The same live PID with its real start time (or none recorded): held.
  writeFileSync(`${dir}.lock`, JSON.stringify({ pid: child.pid, startTime: null, command: 'server.js', since: 'then', token: 'old' }))
  t.throws(() => lockDataDir(dir), { name: 'DataDirLockedError', message: new RegExp(`PID ${child.pid}, server.js, since then`) })
  writeFileSync(`${dir}.lock`, 'half-writ')
  lockDataDir(dir)()
})
