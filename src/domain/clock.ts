/** Clock gives the current time in epoch milliseconds; injected so decisions stay testable. */
export interface Clock {
  now(): number;
}
