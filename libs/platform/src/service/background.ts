import type { Logger } from '../logging/logger.js';

/**
 * Starts a long-running piece (a consumer joining its group, a view catching up) without
 * holding up the service's start: the HTTP server answers /health/live at once, and
 * /health/ready says when the piece is up. If it cannot start at all, the process exits
 * so that its supervisor restarts it; if it was stopped while starting, that is no failure.
 */
export function startInBackground(
  what: string,
  start: () => Promise<void>,
  logger: Logger,
  stopping: () => boolean = () => false,
): void {
  start().catch((error: unknown) => {
    if (stopping()) return;
    logger.fatal({ err: error }, `${what} failed to start`);
    process.exit(1);
  });
}

/** A promise and its resolve function: "this has happened", between components. */
export function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
