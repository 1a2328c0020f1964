import { LockError } from '../errors';

/** Stands for the released reason until someone reads the signal. */
const RELEASED = Symbol('released');

/**
 * The signal of one hold, made when first read (most holders never read it):
 * aborts when the hold ends, with the LockLostError that ended it, or with a
 * plain LockError when its owner released it.
 */
export class LeaseSignal {
  private controller: AbortController | undefined;
  private reason: unknown;

  constructor(private readonly name: string) {}

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.reason !== undefined) this.controller.abort(this.endReason());
    }
    return this.controller.signal;
  }

  get ended(): boolean {
    return this.reason !== undefined;
  }

  /** The hold was released by its owner. */
  released(): void {
    this.end(RELEASED);
  }

  /** The hold ended for `reason` (a LockLostError); only the first end counts. */
  end(reason: unknown): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.controller?.abort(this.endReason());
  }

  private endReason(): unknown {
    if (this.reason === RELEASED) this.reason = releasedReason(this.name);
    return this.reason;
  }
}

/** The abort reason of a released lease; no stack, since nothing went wrong. */
function releasedReason(name: string): LockError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new LockError(`lock '${name}' was released`, name);
  } finally {
    Error.stackTraceLimit = limit;
  }
}
