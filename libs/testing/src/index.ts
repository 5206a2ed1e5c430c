export * from './receiver.js';
export * from './services.js';
export * from './ports.js';
export * from './seed-samples.js';
export * from './hostile-corpus.js';
export * from './bad-mail-events.js';
export * from './ssrf-corpus.js';
export * from './scratch-database.js';
