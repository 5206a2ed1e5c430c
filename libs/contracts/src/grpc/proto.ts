import { fileURLToPath } from 'node:url';

/**
 * The `.proto` of the gRPC API (`hookpost.v1.Webhooks`), shipped beside the library's code
 * (`libs/contracts/proto`), for the server and for clients.
 */
export const WEBHOOKS_PROTO_PATH = fileURLToPath(
  new URL('../../proto/hookpost/v1/webhooks.proto', import.meta.url),
);
export const WEBHOOKS_SERVICE = 'hookpost.v1.Webhooks';
