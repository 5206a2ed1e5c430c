export * from './receiver.js';
export * from './services.js';
export * from './seed-samples.js';
