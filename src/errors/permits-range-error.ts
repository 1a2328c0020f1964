/**
 * A semaphore's verdict once Redis' state is read: the request asks for more
 * permits than the stored limit. A RangeError like every other bad request,
 * of its own class so that the core passes exactly this one through, never a
 * runtime RangeError (a stack overflow, an invalid array length).
 */
export class PermitsRangeError extends RangeError {}
