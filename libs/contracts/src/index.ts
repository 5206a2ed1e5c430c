export * from './codec.js';
export * from './events/canonical-event.js';
export * from './events/delivery.js';
export * from './events/event-types.js';
export * from './events/subscription-events.js';
export * from './ids/ids.js';
export * from './topics/topics.js';
export * from './events/event-data.js';
