/**
 * What happens after an attempt: done, retried after the schedule's next delay (one
 * Kafka topic per delay), or dead. `schedule` lists the delays in seconds after the
 * first attempt, after the second, ... (default 1m, 5m, 30m, 2h, 12h).
 */
export type AttemptResult =
  | { kind: 'succeeded' }
  | { kind: 'gone' }
  | { kind: 'skipped' }
  | { kind: 'failed'; status?: number; retryAfter?: string };

export type NextStep =
  | { kind: 'done' }
  // delaySeconds: the delay topic the retry goes to; notBefore is within that delay.
  // retryAfter: the endpoint asked for a later time still, past the longest delay.
  | { kind: 'retry'; attempt: number; delaySeconds: number; notBefore: Date; retryAfter?: Date }
  | { kind: 'dead' };

export function nextStep(
  attempt: number,
  result: AttemptResult,
  schedule: readonly number[],
  now: Date,
): NextStep {
  if (result.kind !== 'failed') return { kind: 'done' };
  const scheduled = schedule[attempt - 1];
  if (scheduled === undefined) return { kind: 'dead' };
  // 429 and 503 may say when to come back; never sooner than asked, nor sooner than the schedule.
  const asked =
    result.status === 429 || result.status === 503
      ? parseRetryAfter(result.retryAfter, now)
      : undefined;
  const wait = Math.max(scheduled, asked ?? 0);
  // A delay topic's jobs fall due in the order they were written only while none waits
  // longer than the topic's delay: one that did would hold up every job behind it on its
  // partition, other endpoints' too. A longer wait goes to the topic of the shortest delay
  // that covers it; one past the longest delay waits there, and again (`waitFor`).
  const delaySeconds = wait <= scheduled ? scheduled : coveringDelay(schedule, wait);
  return {
    kind: 'retry',
    attempt: attempt + 1,
    delaySeconds,
    notBefore: new Date(now.getTime() + Math.min(wait, delaySeconds) * 1000),
    ...(wait > delaySeconds && { retryAfter: new Date(now.getTime() + wait * 1000) }),
  };
}

/**
 * A retry back from its delay topic before the time its endpoint asked for: the delay
 * topic it waits on and when it is due there, or undefined once that time has come.
 */
export function waitFor(
  retryAfter: Date,
  schedule: readonly number[],
  now: Date,
): { delaySeconds: number; notBefore: Date } | undefined {
  const remaining = Math.ceil((retryAfter.getTime() - now.getTime()) / 1000);
  if (remaining <= 0) return undefined;
  const delaySeconds = coveringDelay(schedule, remaining);
  return {
    delaySeconds,
    notBefore: new Date(now.getTime() + Math.min(remaining, delaySeconds) * 1000),
  };
}

/** The shortest delay of the schedule that covers `wait`, else the longest. */
function coveringDelay(schedule: readonly number[], wait: number): number {
  return shortestCovering(schedule, wait) ?? Math.max(...schedule);
}

function shortestCovering(schedule: readonly number[], wait: number): number | undefined {
  let best: number | undefined;
  for (const delay of schedule)
    if (delay >= wait && (best === undefined || delay < best)) best = delay;
  return best;
}

/** `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2026 07:28:00 GMT` -> seconds from now. */
export function parseRetryAfter(value: string | undefined, now: Date): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now.getTime()) / 1000));
}

/**
 * How long a job put off for a saturated endpoint waits, given how often it was put off
 * before: the schedule's delays in turn, then its last. A backlog that came back every
 * first delay would cost a produce and a consume per job each time, without end, and more
 * the longer the endpoint stays behind; backing off as retries do bounds that cost.
 */
export function deferralDelay(schedule: readonly number[], earlierDeferrals: number): number {
  return schedule[Math.min(earlierDeferrals, schedule.length - 1)]!;
}

/**
 * From this share of a partition's window in flight, a job whose endpoint is behind is put
 * off. The queue limit keeps one saturated endpoint from filling a window; this keeps
 * several on one partition from filling it together, which stops the partition's fetching
 * and so holds up the endpoints on it that keep up.
 */
const CROWDED_WINDOW_SHARE = 0.5;

/**
 * An endpoint is behind when it takes this long to answer (the median of its recent
 * answers, or a request that has waited this long for one), and SLOWER_THAN_TYPICAL
 * times as long as the deliverer's answers typically take. Whether jobs wait for its turn
 * cannot tell: in a burst (a backlog fetched after a restart, or more jobs than the
 * deliverer can send) jobs queue behind endpoints that answer in milliseconds, and
 * putting those off only adds work to a deliverer already behind. A tenth of the default
 * request timeout (`DELIVERY_TIMEOUT_MS`).
 */
export const SLOW_ANSWER_MS = 1_000;

/**
 * A deliverer that is behind lengthens every answer, by the time it waits for the event
 * loop: after a restart with 60,000 jobs queued, every endpoint's answers took over a
 * second, and jobs of endpoints answering in milliseconds were put off by a whole retry
 * delay (`npm run bench:pipeline -- --backlog=60000`). An endpoint that is itself slow
 * stands out against the others' answers, measured the same way; a deliverer that is slow
 * does not.
 */
export const SLOWER_THAN_TYPICAL = 5;

/**
 * Whether a job is put off to a retry delay, unattempted, rather than queued behind its
 * endpoint: `waiting` jobs already wait for that endpoint's turn (its concurrency is in
 * use), the endpoint takes `answerMs` to answer where the deliverer's recent answers took
 * `typicalAnswerMs` (their median, across endpoints), its rate limit holds the jobs
 * already let through for `pacedMs` more (0 without a limit), and `windowShare` of its
 * partition's window is in flight. An endpoint whose rate limit holds its jobs for as
 * long as a slow answer would is behind in the same way, however fast it answers.
 */
export function putOffForSaturation(load: {
  waiting: number;
  answerMs: number;
  typicalAnswerMs: number;
  pacedMs: number;
  windowShare: number;
  queueLimit: number;
}): boolean {
  if (load.waiting >= load.queueLimit) return true;
  const slow =
    load.answerMs >= Math.max(SLOW_ANSWER_MS, SLOWER_THAN_TYPICAL * load.typicalAnswerMs) ||
    load.pacedMs >= SLOW_ANSWER_MS;
  return load.waiting > 0 && load.windowShare >= CROWDED_WINDOW_SHARE && slow;
}

/** The distinct delays of a schedule: one retry topic each. */
export function retryDelays(schedule: readonly number[]): number[] {
  return [...new Set(schedule)];
}
