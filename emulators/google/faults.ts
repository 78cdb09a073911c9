// Fault switches and request counters: what the control API uses to make Google misbehave and to count calls.

export type Endpoint = 'auth' | 'token' | 'tokeninfo' | 'revoke' | 'userinfo' | 'gmail' | 'certs'
export type FaultKind = 'http5xx' | 'timeout' | 'invalid_grant' | 'delay'

export interface Fault {
  endpoint: Endpoint | '*'
  kind: FaultKind
  status: number
  /** Remaining applications; null = until cleared. */
  times: number | null
  /**
   * How long the request is held first. `timeout` and `delay` then answer normally (default 30 s and 1 s);
   * `http5xx` and `invalid_grant` then give their error (default 0: at once).
   */
  delayMs: number
}

export type FaultInput = Pick<Fault, 'endpoint' | 'kind'> & Partial<Omit<Fault, 'endpoint' | 'kind'>>

export interface Stats {
  requests: Partial<Record<Endpoint, number>>
  grantTypes: Record<string, number>
  faultsInjected: number
}

const DEFAULT_DELAY_MS: Record<FaultKind, number> = { timeout: 30_000, delay: 1000, http5xx: 0, invalid_grant: 0 }

const emptyStats = (): Stats => ({ requests: {}, grantTypes: {}, faultsInjected: 0 })

export class Faults {
  private faults: Fault[] = []
  private counters: Stats = emptyStats()

  add (input: FaultInput): Fault {
    const fault: Fault = {
      endpoint: input.endpoint,
      kind: input.kind,
      status: input.status ?? 503,
      times: input.times ?? null,
      delayMs: input.delayMs ?? DEFAULT_DELAY_MS[input.kind]
    }
    this.faults.push(fault)
    return fault
  }

  clear (endpoint?: Endpoint | '*'): void {
    this.faults = endpoint ? this.faults.filter(f => f.endpoint !== endpoint) : []
  }

  list (): Fault[] {
    return this.faults.map(f => ({ ...f }))
  }

  /** The fault to apply to this request, if any; counts it down. invalid_grant only hits refresh_token grants. */
  take (endpoint: Endpoint, grantType?: string): Fault | undefined {
    const index = this.faults.findIndex(f =>
      (f.endpoint === '*' || f.endpoint === endpoint) && (f.kind !== 'invalid_grant' || (endpoint === 'token' && grantType === 'refresh_token')))
    const fault = this.faults[index]
    if (!fault) return undefined
    if (fault.times !== null && --fault.times <= 0) this.faults.splice(index, 1)
    this.counters.faultsInjected++
    return { ...fault }
  }

  recordRequest (endpoint: Endpoint, grantType?: string): void {
    this.counters.requests[endpoint] = (this.counters.requests[endpoint] ?? 0) + 1
    if (grantType) this.counters.grantTypes[grantType] = (this.counters.grantTypes[grantType] ?? 0) + 1
  }

  stats (): Stats {
    return structuredClone(this.counters)
  }

  resetStats (): void {
    this.counters = emptyStats()
  }
}
