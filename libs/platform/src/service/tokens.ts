/** Injection tokens shared by every service. */
export const LOGGER = Symbol('LOGGER');
export const KAFKA = Symbol('KAFKA');
export const CONFIG = Symbol('CONFIG');
export const TRACING = Symbol('TRACING');
