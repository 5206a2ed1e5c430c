import { registerHooks } from 'node:module';

/**
 * Loaded before every tool (`tools/run.sh`). Tools run the libraries' TypeScript sources
 * as they are (Node strips the types), and those sources import one another by the `.js`
 * names they compile to. A relative `.js` import that finds no such file is tried again
 * as the `.ts` beside it; anything else resolves as Node would.
 */
registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (error) {
      const relativeJs = specifier.startsWith('.') && specifier.endsWith('.js');
      if (!relativeJs || (error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
      return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
    }
  },
});
