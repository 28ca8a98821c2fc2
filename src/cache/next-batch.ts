/**
 * NextBatch runs one operation at a time for any number of callers: a caller that arrives while an
 * operation is in flight joins the *next* one, which starts as soon as the current one settles.
 * Joining the in-flight one would be wrong for reads that must begin after the caller arrived (a
 * linearizable read proving what the caller may see); joining the next keeps that guarantee while
 * N concurrent callers cost at most two operations.
 */
export class NextBatch<T> {
  private inFlight = false;
  private next: { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } | undefined;
  private waiting = 0;

  constructor(private readonly op: () => Promise<T>) {}

  /** Callers waiting for an operation that has not started yet. */
  get queued(): number {
    return this.waiting;
  }

  /** Resolves with the result of an operation that started after this call. */
  run(): Promise<T> {
    if (!this.inFlight) {
      this.inFlight = true;
      return this.launch();
    }
    if (!this.next) {
      let resolve!: (v: T) => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.next = { promise, resolve, reject };
    }
    this.waiting++;
    return this.next.promise;
  }

  private launch(): Promise<T> {
    let p: Promise<T>;
    try {
      p = this.op();
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      () => this.settled(),
      () => this.settled(),
    );
    return p;
  }

  private settled(): void {
    const n = this.next;
    this.next = undefined;
    this.waiting = 0;
    if (!n) {
      this.inFlight = false;
      return;
    }
    this.launch().then(n.resolve, n.reject);
  }
}
