import type { Clock } from '../domain/clock.js';

/** The system clock (epoch ms from Date.now): the Clock every node runs on unless a test injects one. */
export const systemClock: Clock = { now: () => Date.now() };
