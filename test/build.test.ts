import { spawn } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import tap, { test } from 'tap'
import type { ResultOf, VariablesOf } from '@graphql-typed-document-node/core'
// @ts-expect-error plain JavaScript without declarations (the build script runs without tsx)
import { buildBundles } from '../scripts/build.mjs'
import { startGoogleEmulator } from '../emulators/google/app.ts'
import { PASSWORD } from './helper.ts'
import type { TypedDocument } from './helper.ts'
import { freePort } from './support/free-port.ts'
import { ALICE, IOS, SCOPES, WEB } from './support/fixtures.ts'
import { ConnectGmailDocument, GmailProfileDocument, SignUpDocument } from './support/generated/graphql.ts'

// `npm run build` (scripts/build.mjs) and `npm start` (scripts/launch.mjs): the built server is a bundle of a few
// files, not ≈ 700 modules; launch.mjs runs it when it is current; its stack traces name the TypeScript sources.
// Built into a scratch copy of the checkout's layout (its own dist/), never into the checkout's dist/.

const ROOT = path.resolve(import.meta.dirname, '..')

interface Metafile { outputs: Record<string, { imports: Array<{ path: string, kind: string, external?: boolean }>, inputs: Record<string, unknown>, entryPoint?: string }> }

/** One scratch checkout, built once for this file's tests and removed when they are done. */
let scratchBuild: Promise<{ scratch: string, metafile: Metafile }> | undefined
async function builtScratch (): Promise<{ scratch: string, metafile: Metafile }> {
  scratchBuild ??= (async () => {
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'inboxgate-build-'))
    tap.teardown(async () => await rm(scratch, { recursive: true, force: true }))
    // The checkout as launch.mjs and the bundle see it: sources, schema, migrations and packages from here (their
    // mtimes older than the build made below), launch.mjs and the files its staleness check reads copied.
    for (const dir of ['src', 'schema', 'prisma', 'node_modules']) await symlink(path.join(ROOT, dir), path.join(scratch, dir))
    await mkdir(path.join(scratch, 'scripts'))
    for (const file of ['package.json', 'package-lock.json', 'tsconfig.json', 'scripts/launch.mjs', 'scripts/build.mjs']) {
      await copyFile(path.join(ROOT, file), path.join(scratch, file))
    }
    const { metafile } = await buildBundles({ outdir: path.join(scratch, 'dist') }) as { metafile: Metafile }
    return { scratch, metafile }
  })()
  return await scratchBuild
}

test('the build bundles the server; launch.mjs runs the bundle; stack traces name the .ts sources', async (t) => {
  const { scratch, metafile } = await builtScratch()

  // What a PostgreSQL start loads: the server entry, the start-up chunk it imports and their static imports.
  const outputs = metafile.outputs
  const serverOut = Object.keys(outputs).find((o) => outputs[o]!.entryPoint === 'src/server.ts')!
  t.equal(path.relative(scratch, path.resolve(ROOT, serverOut)), path.join('dist', 'src', 'server.js'), 'the bundle keeps the path npm start and the docs name')
  const startChunk = outputs[serverOut]!.imports.find((i) => i.kind === 'dynamic-import' && /start-server/.test(i.path))!.path
  const loaded = new Set<string>([serverOut])
  const visit = (out: string) => {
    if (loaded.has(out)) return
    loaded.add(out)
    for (const i of outputs[out]!.imports) if (i.kind === 'import-statement' && i.external !== true) visit(i.path)
  }
  visit(startChunk)
  const inputs = [...loaded].flatMap((o) => Object.keys(outputs[o]!.inputs))
  t.ok(inputs.includes('src/app.ts'), 'the app is in the bundle')
  t.ok(inputs.some((i) => i.includes('node_modules/fastify/')), 'packages are bundled too')
  for (const lazy of ['@aws-sdk/', 'googleapis/', 'src/db/pglite-adapter.ts', 'src/vault/kms-envelope-vault.ts']) {
    t.notOk(inputs.some((i) => i.includes(lazy)), `${lazy} stays out of a start (a chunk loaded on use)`)
  }

  // launch.mjs with a current build: every module file the process resolves is logged by a resolve hook.
  const resolvedLog = path.join(scratch, 'resolved.log')
  const hooks = path.join(scratch, 'hooks.mjs')
  await writeFile(hooks, [
    "import { appendFileSync } from 'node:fs'",
    'export async function resolve (specifier, context, next) {',
    '  const result = await next(specifier, context)',
    `  if (result.url.startsWith('file:')) appendFileSync(${JSON.stringify(resolvedLog)}, result.url + '\\n')`,
    '  return result',
    '}'
  ].join('\n'))
  const register = `data:text/javascript,import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(hooks).href)})`
  // A start that fails after loading the whole app (the data directory cannot be created): its stack trace is
  // printed, through the source maps.
  const child = spawn(process.execPath, ['--import', register, path.join(scratch, 'scripts', 'launch.mjs'), 'server'], {
    cwd: scratch,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: '/dev/null/inboxgate', JWT_SECRET: 'x'.repeat(43), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe']
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.equal(code, 1, 'the start fails')
  t.match(stderr, /inboxgate failed to start: Error: ENOTDIR/)
  t.notMatch(stderr, /compiling/, 'a current build is not built again')
  t.match(stderr, /src\/db\/prisma\.ts:\d+/, 'the stack trace names the TypeScript source (source maps)')
  t.notMatch(stderr, /dist\/chunks\//, 'no frame left in the bundle')
  const files = [...new Set((await readFile(resolvedLog, 'utf8')).trim().split('\n'))]
  t.ok(files.includes(pathToFileURL(path.join(scratch, 'dist', 'src', 'server.js')).href), 'launch.mjs ran dist/src/server.js')
  t.same(files.filter((f) => f.endsWith('.ts')), [], 'no TypeScript source loaded (no tsx)')
  t.ok(files.length < 40, `a start loads a few files: ${files.length} (≈ 700 before the bundle)`)
})

test("the build leaves a migrated embedded database that the built server's first start copies (issue 26: ≤ 2.5 s)", async (t) => {
  const { scratch } = await builtScratch()
  const template = path.join(scratch, 'dist', 'pglite-template')
  const manifest = JSON.parse(await readFile(path.join(template, 'manifest.json'), 'utf8')) as { applied: string[] }
  const migrations = (await readdir(path.join(ROOT, 'prisma', 'migrations'))).filter((n) => !n.endsWith('.toml')).sort()
  t.same(manifest.applied, migrations, 'the template has every migration')

  const port = await freePort()
  const dataDir = path.join(scratch, 'fresh-data')
  const child = spawn(process.execPath, [path.join(scratch, 'dist', 'src', 'server.js')], {
    cwd: scratch,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, HOST: '127.0.0.1', PORT: String(port), DATA_DIR: dataDir, JWT_SECRET: 'x'.repeat(43), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { output += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { output += d })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  t.teardown(async () => {
    if (child.exitCode == null && child.signalCode == null) child.kill('SIGKILL')
    await exited
  })
  const origin = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 90_000
  while (!await fetch(`${origin}/health`).then((r) => r.ok, () => false)) {
    if (Date.now() > deadline || child.exitCode != null) throw new Error(`the built server did not start:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.match(output, `embedded database copied from the build's template ${template}`, 'copied, not initdb in a child')
  for (const name of migrations) t.match(output, `applied migration ${name}`)
  const res = await fetch(`${origin}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: String(SignUpDocument), variables: { input: { email: 'fresh@example.com', password: PASSWORD, client: 'NATIVE' } } })
  })
  const body = await res.json() as { data?: ResultOf<typeof SignUpDocument>, errors?: unknown[] }
  t.same(body.errors, undefined, 'the copied database has the schema: a sign-up is stored')
  t.ok(body.data?.signUp.accessToken)
  child.kill('SIGTERM')
  await exited
})

test('the built server calls the Gmail API (googleapis is CommonJS, loaded from its own chunk at first use)', async (t) => {
  // The first bundled build read the chunk's named export, which esbuild's chunk does not have: every Gmail call of
  // the built server failed as GOOGLE_UNAVAILABLE while the suite, on the sources, passed.
  const { scratch } = await builtScratch()

  const google = await startGoogleEmulator({ clients: [WEB, IOS], users: [ALICE] })
  t.teardown(google.close)
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const child = spawn(process.execPath, [path.join(scratch, 'dist', 'src', 'server.js')], {
    cwd: scratch,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: 'memory://',
      DATA_DIR: path.join(scratch, 'data'),
      JWT_SECRET: 'x'.repeat(43),
      LOG_LEVEL: 'warn',
      GOOGLE_CLIENT_ID: WEB.id,
      GOOGLE_CLIENT_SECRET: WEB.secret,
      GOOGLE_IOS_CLIENT_IDS: IOS.id,
      GOOGLE_API_BASE_URL: google.baseUrl
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { output = (output + d).slice(-4000) })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { output = (output + d).slice(-4000) })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  t.teardown(async () => {
    if (child.exitCode == null && child.signalCode == null) child.kill('SIGKILL')
    await exited
  })
  const deadline = Date.now() + 90_000
  while (!await fetch(`${origin}/health`).then((r) => r.ok, () => false)) {
    if (Date.now() > deadline || child.exitCode != null) throw new Error(`the built server did not start:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const post = async <D extends TypedDocument>(document: D, variables: VariablesOf<D>, token?: string) => {
    const res = await fetch(`${origin}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token != null ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query: String(document), variables })
    })
    return await res.json() as { data?: ResultOf<D> | null, errors?: unknown[] }
  }
  const up = await post(SignUpDocument, { input: { email: 'built@example.com', password: PASSWORD, client: 'NATIVE' } })
  const token = up.data!.signUp.accessToken
  const g = google.state.nativeSignIn({ clientId: IOS.id, user: ALICE.email, scopes: SCOPES })
  const connected = await post(ConnectGmailDocument, { input: { accessToken: g.accessToken, refreshToken: g.refreshToken } }, token)
  t.equal(connected.data?.connectGmail.status.state, 'ACTIVE', JSON.stringify(connected.errors))
  const profile = await post(GmailProfileDocument, {}, token)
  t.same(profile.errors, undefined, 'users.getProfile through the built bundle')
  t.equal(profile.data?.gmailProfile.emailAddress, ALICE.email)
  t.equal(profile.data?.gmailProfile.messagesTotal, ALICE.messagesTotal)
})
