/*
 * Where the built server's CPU goes on a hot path: a separate server process started under `node --cpu-prof`, one
 * load against it, and the profile's samples (start-up left out) grouped by the component whose code ran them.
 * For BENCHMARKS.md's "what remains": the gap to the lean reference, named by component with its µs per request.
 */
import { readFileSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { SourceMap } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import type { Load } from './load.ts'
import { ROOT, startProcess } from './processes.ts'
import type { Proc } from './processes.ts'

export interface ProfileShare { component: string, share: number }
export interface HotPathProfile { load: Load, shares: ProfileShare[] }

interface CallFrame { functionName: string, url: string, lineNumber: number, columnNumber: number }
interface CpuProfile {
  nodes: Array<{ id: number, callFrame: CallFrame }>
  samples: number[]
  timeDeltas: number[]
}

/** The component a sampled frame belongs to, by its script's package (or Node's own module, or native code). */
export function componentOf (url: string, functionName: string): string | null {
  if (url === '') {
    if (functionName === '(idle)') return null
    if (functionName === '(garbage collector)') return 'garbage collection'
    if (/^(writev|writeString|writeBuffer|writeUtf8String|readStop|readStart)$/.test(functionName)) return 'socket I/O syscalls (HTTP and PostgreSQL)'
    return 'V8 and native code (microtasks, JSON, other builtins)'
  }
  if (/@prisma\/|^wasm:/.test(url)) return 'Prisma (client, query compiler, driver adapter)'
  if (/node_modules\/(pg|pg-protocol|pg-pool|pg-types|postgres-[a-z-]+)\//.test(url)) return 'node-postgres'
  if (/node_modules\/(mercurius|graphql|graphql-jit|@graphql-tools|@escape\.tech|tiny-lru)\//.test(url)) return 'GraphQL (Mercurius, graphql-js, graphql-jit)'
  if (/node_modules\/(pino|sonic-boom|fast-redact|@pinojs|quick-format-unescaped|fast-safe-stringify)\//.test(url)) return 'logging (pino)'
  if (/node_modules\/(fast-jwt|@fastify\/jwt|mnemonist)\//.test(url)) return 'JWT (fast-jwt)'
  if (/node_modules\/(prom-client|tdigest|bintrees)\//.test(url)) return 'metrics (prom-client)'
  if (/node_modules\/(fastify|find-my-way|avvio|light-my-request|@fastify|fast-content-type-parse|secure-json-parse|fast-querystring|toad-cache|fast-json-stringify|rfdc|vary)\//.test(url)) return 'Fastify and its plugins'
  // Our files: dist/ (a frame no source map names) or, through the bundle's source map, src/ (`../../src/…`).
  if (!url.includes('node_modules/') && /(^|\/)(dist|src)\//.test(url)) return 'inboxgate\'s own code'
  if (/^node:internal\/crypto|^node:crypto/.test(url)) return 'Node crypto (JWT HMAC, token hashes)'
  if (/^node:/.test(url)) return 'Node core (http, net, streams, events)'
  return 'other packages'
}

/**
 * The built server is a bundle (scripts/build.mjs): a frame in dist/ is traced back through the bundle's source map
 * to the file it was bundled from (a package's file in node_modules, or src/), which componentOf then classifies.
 */
function originalFrame (frame: CallFrame, maps: Map<string, SourceMap | null>): CallFrame {
  if (!frame.url.startsWith('file:') || !frame.url.includes('/dist/')) return frame
  let map = maps.get(frame.url)
  if (map === undefined) {
    try {
      map = new SourceMap(JSON.parse(readFileSync(new URL(`${frame.url}.map`), 'utf8')))
    } catch {
      map = null
    }
    maps.set(frame.url, map)
  }
  const entry = map?.findEntry(frame.lineNumber, frame.columnNumber)
  const source = entry != null && 'originalSource' in entry ? entry.originalSource : undefined
  return source == null ? frame : { ...frame, url: source }
}

/** Self time per component over the samples taken after `skipMs` (start-up), as shares of the busy time. */
export function shares (profile: CpuProfile, skipMs: number): ProfileShare[] {
  const maps = new Map<string, SourceMap | null>()
  const byId = new Map(profile.nodes.map((n) => [n.id, originalFrame(n.callFrame, maps)]))
  const acc = new Map<string, number>()
  let t = 0
  let busy = 0
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0
    t += dt
    if (t < skipMs * 1000) return
    const frame = byId.get(id)
    const component = frame == null ? 'other packages' : componentOf(frame.url, frame.functionName)
    if (component == null) return
    acc.set(component, (acc.get(component) ?? 0) + dt)
    busy += dt
  })
  return [...acc].map(([component, v]) => ({ component, share: v / busy })).sort((a, b) => b.share - a.share)
}

/**
 * Starts the built server under --cpu-prof, runs `work` against it, stops it (the profile is written at exit) and
 * groups the samples taken after it answered /health.
 */
export async function profileUnderLoad (name: string, node: string, env: Record<string, string | undefined>, work: (proc: Proc) => Promise<Load>): Promise<HotPathProfile> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'inboxgate-prof-'))
  try {
    const spawned = performance.now()
    const proc = await startProcess(name, node, path.join(ROOT, 'dist', 'src', 'server.js'), env, { readyPath: '/health', args: ['--cpu-prof', `--cpu-prof-dir=${dir}`] })
    const readyMs = performance.now() - spawned
    let load: Load
    try {
      load = await work(proc)
    } finally {
      await proc.stop()
    }
    const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'))
    if (file == null) throw new Error(`${name}: no CPU profile written`)
    const profile = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as CpuProfile
    return { load, shares: shares(profile, readyMs) }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
