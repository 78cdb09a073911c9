import type { FastifyInstance } from 'fastify'
import { EndpointUrlError } from '../webhooks/endpoint-url.ts'
import { WebhookEndpointError } from '../webhooks/endpoints.ts'
import { AdminError } from './usage.ts'

const flag = (args: string[], name: string): string | undefined => {
  const i = args.indexOf(name)
  if (i < 0) return undefined
  const value = args[i + 1]
  if (value == null || value.startsWith('--')) throw new AdminError(`${name} needs a value`)
  return value
}

/** The positional arguments, refusing flags that are not among `known` (a misspelt flag is an error, not ignored). */
const positional = (args: string[], known: Record<string, boolean>): string[] => {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (!a.startsWith('--')) { out.push(a); continue }
    if (!(a in known)) throw new AdminError(`unknown option ${a}`)
    if (known[a] === true) i++
  }
  return out
}

async function translate<T> (work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (err) {
    if (err instanceof WebhookEndpointError || err instanceof EndpointUrlError) throw new AdminError(err.message)
    throw err
  }
}

/** The webhook commands, or undefined when `command` is not one of them. */
export async function runWebhookCommand (app: FastifyInstance, command: string | undefined, args: string[]): Promise<unknown> {
  const endpoints = app.webhookEndpoints
  switch (command) {
    case 'create-webhook': {
      const rest = positional(args, { '--events': true })
      if (rest.length !== 2) throw new AdminError('usage: create-webhook <clientId> <url> [--events type,…]')
      const events = (flag(args, '--events') ?? '').split(',').map(s => s.trim()).filter(Boolean)
      return await translate(() => endpoints.create(rest[0]!, rest[1]!, events))
    }
    case 'list-webhooks':
      positional(args, {})
      return { webhooks: await endpoints.list() }
    case 'delete-webhook': {
      const [id, ...extra] = positional(args, {})
      if (id == null || extra.length > 0) throw new AdminError('usage: delete-webhook <id>')
      if (!await endpoints.delete(id)) throw new AdminError(`no webhook ${id}`)
      return { id, deleted: true }
    }
    case 'rotate-webhook-secret': {
      const [id, ...extra] = positional(args, {})
      if (id == null || extra.length > 0) throw new AdminError('usage: rotate-webhook-secret <id>')
      return await translate(() => endpoints.rotateSecret(id))
    }
    case 'enable-webhook': {
      const [id, ...extra] = positional(args, {})
      if (id == null || extra.length > 0) throw new AdminError('usage: enable-webhook <id>')
      if (!await endpoints.enable(id)) throw new AdminError(`no webhook ${id}`)
      return { id, enabled: true }
    }
    case 'webhook-deliveries': {
      const [id, ...extra] = positional(args, { '--failed': false })
      if (id == null || extra.length > 0) throw new AdminError('usage: webhook-deliveries <webhookId> [--failed]')
      return { deliveries: await endpoints.deliveries(id, args.includes('--failed')) }
    }
    case 'webhook-replay': {
      const rest = positional(args, { '--since': true, '--webhook': true })
      const since = flag(args, '--since')
      if (since != null) {
        const date = new Date(since)
        if (rest.length > 0 || Number.isNaN(date.getTime())) throw new AdminError('usage: webhook-replay --since <ISO time> [--webhook <id>]')
        return { replayed: await endpoints.replay({ since: date, endpointId: flag(args, '--webhook') }) }
      }
      if (rest.length !== 1) throw new AdminError('usage: webhook-replay <deliveryId> | --since <ISO time> [--webhook <id>]')
      const replayed = await endpoints.replay({ deliveryId: rest[0]! })
      if (replayed === 0) throw new AdminError(`no delivery ${rest[0]}`)
      return { replayed }
    }
    default: return undefined
  }
}
