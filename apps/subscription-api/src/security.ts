import { endpointPolicyFromSettings, keyringFromSettings } from '@hookpost/domain';
import { CONFIG, LOGGER, type Logger } from '@hookpost/platform';
import type { Provider } from '@nestjs/common';
import type { ApiConfig } from './config.js';

export const SECRET_KEYRING = Symbol('SECRET_KEYRING');
export const ENDPOINT_POLICY = Symbol('ENDPOINT_POLICY');

export const securityProviders: Provider[] = [
  {
    provide: SECRET_KEYRING,
    inject: [CONFIG, LOGGER],
    useFactory: (config: ApiConfig, logger: Logger) => {
      const { keyring, warnings } = keyringFromSettings(
        config.SECRET_ENCRYPTION_KEY,
        config.NODE_ENV,
      );
      for (const warning of warnings) logger.warn(warning);
      return keyring;
    },
  },
  {
    provide: ENDPOINT_POLICY,
    inject: [CONFIG, LOGGER],
    useFactory: (config: ApiConfig, logger: Logger) => {
      const { policy, warnings } = endpointPolicyFromSettings(
        config.ALLOW_HTTP_ENDPOINTS,
        config.ENDPOINT_ALLOWED_NETWORKS,
      );
      for (const warning of warnings) logger.warn(warning);
      return policy;
    },
  },
];
