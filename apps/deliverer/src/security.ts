import { endpointPolicyFromSettings, keyringFromSettings } from '@hookpost/domain';
import { CONFIG, LOGGER, type Logger } from '@hookpost/platform';
import type { Provider } from '@nestjs/common';
import { createRequire } from 'node:module';
import type { DelivererConfig } from './config.js';
import { WebhookClient } from './http/webhook-client.js';

export const SECRET_KEYRING = Symbol('SECRET_KEYRING');

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };
export const USER_AGENT = `Hookpost/${version}`;

export const securityProviders: Provider[] = [
  {
    provide: SECRET_KEYRING,
    inject: [CONFIG, LOGGER],
    useFactory: (config: DelivererConfig, logger: Logger) => {
      const { keyring, warnings } = keyringFromSettings(
        config.SECRET_ENCRYPTION_KEY,
        config.NODE_ENV,
      );
      for (const warning of warnings) logger.warn(warning);
      return keyring;
    },
  },
  {
    provide: WebhookClient,
    inject: [CONFIG, LOGGER],
    useFactory: (config: DelivererConfig, logger: Logger) => {
      const { policy, warnings } = endpointPolicyFromSettings(
        config.ALLOW_HTTP_ENDPOINTS,
        config.ENDPOINT_ALLOWED_NETWORKS,
      );
      for (const warning of warnings) logger.warn(warning);
      return new WebhookClient(policy, config.DELIVERY_TIMEOUT_MS);
    },
  },
];
