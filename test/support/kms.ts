import { CreateAliasCommand, CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms'
import tap from 'tap'
import { startMoto, useMotoEnv } from './moto.ts'

/** A client that looks at moto's KMS directly, with its own explicit configuration (not the app's). */
export function kmsAdmin (endpoint: string): KMSClient {
  return new KMSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, maxAttempts: 1 })
}

/** A new symmetric KMS key in moto, optionally behind `alias/<alias>`; its ARN. */
export async function createKmsKey (endpoint: string, alias?: string): Promise<string> {
  const admin = kmsAdmin(endpoint)
  try {
    const out = await admin.send(new CreateKeyCommand({ Description: 'inboxgate test key' }))
    const arn = out.KeyMetadata?.Arn
    if (arn == null) throw new Error('moto created a key without an ARN')
    if (alias != null) await admin.send(new CreateAliasCommand({ AliasName: `alias/${alias}`, TargetKeyId: arn }))
    return arn
  } finally {
    admin.destroy()
  }
}

/**
 * TEST_TOKEN_VAULT=kms runs the Gmail custody suite (test/gmail/) on the KMS vault: the app gets TOKEN_VAULT=kms and
 * a key of its own in moto. The files that already point the AWS SDK at a moto (AWS_ENDPOINT_URL) share it;
 * otherwise one moto is started for the test process and stopped when the root test ends.
 */
export const custodyVaultKind: 'aws' | 'kms' = process.env.TEST_TOKEN_VAULT === 'kms' ? 'kms' : 'aws'

let shared: Promise<string> | undefined
export async function kmsVaultEnv (): Promise<Record<string, string>> {
  shared ??= (async () => {
    let endpoint = process.env.AWS_ENDPOINT_URL
    if (endpoint == null || endpoint === '') {
      const moto = await startMoto()
      tap.teardown(() => moto.stop())
      useMotoEnv(tap, moto)
      endpoint = moto.endpoint
    }
    return await createKmsKey(endpoint)
  })()
  return { TOKEN_VAULT: 'kms', KMS_KEY_ID: await shared }
}

/** The env of the vault the custody suite runs on: Secrets Manager by default, KMS with TEST_TOKEN_VAULT=kms. */
export async function custodyVaultEnv (): Promise<Record<string, string>> {
  return custodyVaultKind === 'kms' ? await kmsVaultEnv() : { TOKEN_VAULT: 'aws' }
}
