/** Stable error codes; every error kds throws or rejects with is a {@link KDSError} carrying one. */
export type ErrorCode =
  | 'E_ARG' // a bad argument or option value
  | 'E_SHAPE' // wrong rank, size or channel count; teacher/student mismatch
  | 'E_STATE' // a call out of order: no teacher yet, disposed, busy
  | 'E_FILE' // a missing, unreadable, corrupt or wrong-kind file
  | 'E_DEVICE' // an unknown or unavailable device
  | 'E_NAN' // NaN/Inf in inputs, loss or gradients (the step is not applied)
  | 'E_DIST' // distributed training: a rendezvous or collective with the other ranks failed or timed out
  | 'E_NATIVE' // the native addon is missing or could not be loaded
  | 'E_INTERNAL'; // a LibTorch error kds did not anticipate

export class KDSError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KDSError';
    this.code = code;
  }
}

/** Re-raises an error from the addon (a plain Error with `code`) as a KDSError with the same code. */
export function fromNative(err: unknown): KDSError {
  if (err instanceof KDSError) return err;
  if (err instanceof Error) {
    const code = (err as Error & { code?: string }).code;
    return new KDSError((code as ErrorCode) ?? 'E_INTERNAL', err.message, { cause: err });
  }
  return new KDSError('E_INTERNAL', String(err));
}

/** Runs a synchronous native call, converting its errors. */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}

/** Awaits an asynchronous native call, converting its errors. */
export async function awaitNative<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw fromNative(err);
  }
}
