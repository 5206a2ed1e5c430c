import { HEADERS, TOPICS, type RejectReason } from '@hookpost/contracts';
import { batchBytesOf, type IncomingMessage, type OutgoingMessage } from '@hookpost/platform';

/**
 * The dead-letter copy of a raw message: its key, value and headers unchanged, with why it
 * was refused and where it came from. A copy must also fit the dead-letter topic, else
 * the broker refuses it and the batch behind it never moves. A raw message near
 * `mail-events`' own limit no longer fits once the headers are added; its value is then
 * cut to fit, with `hookpost-original-bytes` telling its full size (the whole message
 * stays on `mail-events`, at the source offset given, for its retention). If even an
 * empty value leaves it too big, the copied headers go too, then the key.
 */
export function deadLetter(
  message: IncomingMessage,
  reason: RejectReason,
  detail: string,
  limitBytes: number,
): OutgoingMessage {
  const ours = {
    [HEADERS.rejectReason]: reason,
    [HEADERS.rejectDetail]: detail,
    [HEADERS.sourceTopic]: message.topic,
    [HEADERS.sourcePartition]: String(message.partition),
    [HEADERS.sourceOffset]: message.offset,
  };
  const value = message.value ?? Buffer.alloc(0);
  const letter: OutgoingMessage = {
    topic: TOPICS.mailEventsDeadLetter,
    key: message.key?.toString() ?? null,
    value,
    headers: { ...message.headers, ...ours },
  };
  if (batchBytesOf(letter) <= limitBytes) return letter;

  // Cut the value; failing that, drop the copied headers; failing that, the key too.
  const originalBytes = { [HEADERS.originalBytes]: String(value.length) };
  const cuts: OutgoingMessage[] = [
    { ...letter, headers: { ...letter.headers, ...originalBytes } },
    { ...letter, headers: { ...ours, ...originalBytes } },
    { ...letter, key: null, headers: { ...ours, ...originalBytes } },
  ];
  for (const cut of cuts) {
    const room = limitBytes - (batchBytesOf(cut) - value.length);
    if (room >= 0) return { ...cut, value: value.subarray(0, room) };
  }
  throw new Error(`a dead letter cannot fit in ${limitBytes} bytes`);
}
