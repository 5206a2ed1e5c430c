/**
 * `promise`, or a rejection with `message` once `ms` have passed, whichever comes first.
 * The work itself goes on (a promise cannot be cancelled); only the wait is bounded.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, message = 'timed out'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
    timer.unref();
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
