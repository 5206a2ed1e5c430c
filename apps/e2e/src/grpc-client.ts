import { WEBHOOKS_PROTO_LOADER_OPTIONS, WEBHOOKS_PROTO_PATH } from '@hookpost/contracts';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export interface GrpcResult<T = Record<string, unknown>> {
  code: grpc.status;
  details: string;
  /** The `error-code` metadata of a failure: the REST error code. */
  errorCode: string | undefined;
  /** The trailing metadata of a failure (`error-code`, `retry-after`). */
  trailers: grpc.Metadata | undefined;
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

  /** One call with `key` in the authorization metadata ('' sends none); never rejects. */
  call<T = Record<string, unknown>>(
    method: string,
    request: unknown,
    key: string,
    timeoutMs = 15_000,
  ): Promise<GrpcResult<T>> {
    const definition = this.service[method];
    if (!definition) throw new Error(`no method ${method} in hookpost.v1.Webhooks`);
    return this.unary(
      definition.path,
      definition.requestSerialize as (value: unknown) => Buffer,
      (bytes) => definition.responseDeserialize(bytes) as T,
      request,
      key,
      timeoutMs,
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
  ): Promise<GrpcResult<T>> {
    const metadata = new grpc.Metadata();
    if (key) metadata.set('authorization', `Bearer ${key}`);
    return new Promise((resolve) =>
      this.client.makeUnaryRequest(
        path,
        serialize,
        deserialize,
        request,
        metadata,
        { deadline: Date.now() + timeoutMs },
        (error: grpc.ServiceError | null, value?: T) =>
          resolve(
            error
              ? {
                  code: error.code,
                  details: error.details,
                  errorCode: error.metadata?.get('error-code')[0]?.toString(),
                  trailers: error.metadata,
                  value: undefined,
                }
              : {
                  code: grpc.status.OK,
                  details: '',
                  errorCode: undefined,
                  trailers: undefined,
                  value,
                },
          ),
      ),
    );
  }
}
