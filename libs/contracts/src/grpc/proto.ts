import type { Options } from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

/**
 * The `.proto` of the gRPC API (`hookpost.v1.Webhooks`), shipped beside the library's code
 * (`libs/contracts/proto`), for the server and for clients.
 */
export const WEBHOOKS_PROTO_PATH = fileURLToPath(
  new URL('../../proto/hookpost/v1/webhooks.proto', import.meta.url),
);
export const WEBHOOKS_SERVICE = 'hookpost.v1.Webhooks';

/**
 * How the server and clients load it: field names as in the .proto, 64-bit numbers and
 * enums as strings, no filled-in defaults (an absent field stays absent).
 */
export const WEBHOOKS_PROTO_LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  arrays: true,
  objects: true,
};
