import module from 'node:module'

// Node ≥ 22.1 keeps V8's compiled code of each module on disk (under os.tmpdir(), or NODE_COMPILE_CACHE; set
// NODE_DISABLE_COMPILE_CACHE=1 to turn it off): a restart then skips compiling the ≈ 700 CommonJS and ESM files it loads, ≈ 0.2–0.3 s CPU of
// a start on Node 26 (bench/startup.ts). Node 20 has no such API. It applies to modules loaded after the call:
// hence the dynamic import.
;(module as { enableCompileCache?: () => unknown }).enableCompileCache?.()
// The build is a bundle (scripts/build.mjs): stack traces name the TypeScript sources through its source maps. Like
// the compile cache, this applies to the modules loaded after the call (all of the bundle but this file).
process.setSourceMapsEnabled(true)
const { loadConfigOrExit, startServer } = await import('./start-server.ts')
const { startFailureMessage } = await import('./start-failure.ts')

async function main (): Promise<void> {
  await startServer(await loadConfigOrExit(process.env))
}

main().catch((err) => {
  process.stderr.write(`inboxgate failed to start: ${startFailureMessage(err) ?? (err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
