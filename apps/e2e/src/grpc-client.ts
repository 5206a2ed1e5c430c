import { WEBHOOKS_PROTO_LOADER_OPTIONS, WEBHOOKS_PROTO_PATH } from '@hookpost/contracts';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export interface GrpcResult<T = Record<string, unknown>> {
  code: grpc.status;
  details: string;
  /** The `error-code` metadata of a failure: the REST error code. */
  errorCode: string | undefined;
  /** The trailing metadata: a failure's `error-code` and `retry-after`, `idempotent-replayed`. */
  trailers: grpc.Metadata;
  value: T | undefined;
}

/** `hookpost.v1.Webhooks` through a plain @grpc/grpc-js client, as a customer calls it. */
export class WebhooksGrpc {
  private readonly client: grpc.Client;
  private readonly service: grpc.ServiceDefinition;

  constructor(address: string) {
    const loaded = grpc.loadPackageDefinition(
      protoLoader.loadSync(WEBHOOKS_PROTO_PATH, WEBHOOKS_PROTO_LOADER_OPTIONS),
    ) as unknown as { hookpost: { v1: { Webhooks: grpc.ServiceClientConstructor } } };
    const Webhooks = loaded.hookpost.v1.Webhooks;
    this.service = Webhooks.service;
    this.client = new Webhooks(address, grpc.credentials.createInsecure());
  }

  /** Every method of the service definition. */
  get methods(): string[] {
    return Object.keys(this.service);
  }

  /**
   * One call with `key` in the authorization metadata ('' sends none), and any other
   * metadata given; never rejects.
   */
  call<T = Record<string, unknown>>(
    method: string,
    request: unknown,
    key: string,
    options: { timeoutMs?: number; metadata?: Record<string, string> } = {},
  ): Promise<GrpcResult<T>> {
    const definition = this.service[method];
    if (!definition) throw new Error(`no method ${method} in hookpost.v1.Webhooks`);
    return this.unary(
      definition.path,
      definition.requestSerialize as (value: unknown) => Buffer,
      (bytes) => definition.responseDeserialize(bytes) as T,
      request,
      key,
      options.timeoutMs ?? 15_000,
      options.metadata,
    );
  }

  /** A call whose request is the given bytes, whatever they are. */
  callRaw(method: string, bytes: Buffer, key: string, timeoutMs = 15_000): Promise<GrpcResult> {
    const definition = this.service[method];
    if (!definition) throw new Error(`no method ${method} in hookpost.v1.Webhooks`);
    return this.unary(
      definition.path,
      (value: Buffer) => value,
      (response) => definition.responseDeserialize(response) as Record<string, unknown>,
      bytes,
      key,
      timeoutMs,
    );
  }

  close(): void {
    this.client.close();
  }

  private unary<Req, T>(
    path: string,
    serialize: (value: Req) => Buffer,
    deserialize: (bytes: Buffer) => T,
    request: Req,
    key: string,
    timeoutMs: number,
    extra: Record<string, string> = {},
  ): Promise<GrpcResult<T>> {
    const metadata = new grpc.Metadata();
    if (key) metadata.set('authorization', `Bearer ${key}`);
    for (const [name, value] of Object.entries(extra)) metadata.set(name, value);
    return new Promise((resolve) => {
      let answer: T | undefined;
      // The callback has the message; the status event, which follows it, the trailers.
      const call = this.client.makeUnaryRequest(
        path,
        serialize,
        deserialize,
        request,
        metadata,
        { deadline: Date.now() + timeoutMs },
        (_error: grpc.ServiceError | null, value?: T) => (answer = value),
      );
      call.on('status', (status: grpc.StatusObject) =>
        resolve({
          code: status.code,
          details: status.code === grpc.status.OK ? '' : status.details,
          errorCode: status.metadata.get('error-code')[0]?.toString(),
          trailers: status.metadata,
          value: status.code === grpc.status.OK ? answer : undefined,
        }),
      );
    });
  }
}
