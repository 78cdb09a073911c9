import { loadConfigOrExit, startServer } from './start-server.ts'

async function main (): Promise<void> {
  await startServer(await loadConfigOrExit(process.env))
}

main().catch((err) => {
  process.stderr.write(`inboxgate failed to start: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
