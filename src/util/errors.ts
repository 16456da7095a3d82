// Typed errors: each carries the HTTP status the Engine API answers with, so the API layer
// can turn any error into docker's `{"message": "..."}` shape without guessing.

export class BerthError extends Error {
  readonly status: number;
  constructor(message: string, status = 500, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.status = status;
  }
}

/** 400: the request itself is wrong (bad JSON, bad reference, bad option). */
export class InvalidParameterError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 400, options);
  }
}

/** 404: no such image, container, manifest or route. */
export class NotFoundError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 404, options);
  }
}

/** 409: the object exists but its state forbids the operation (name in use, running container). */
export class ConflictError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 409, options);
  }
}

/** 401/403 from a registry, surfaced to the client. */
export class UnauthorizedError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 401, options);
  }
}

/** 500: a fault in berth or in a part it drives (runc, conmon, the kernel, a registry). */
export class SystemError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 500, options);
  }
}

/** Content did not match the digest it was fetched or stored under. */
export class DigestMismatchError extends BerthError {
  constructor(
    readonly expected: string,
    readonly actual: string,
    context: string,
  ) {
    super(`${context}: digest mismatch: expected ${expected}, got ${actual}`, 500);
  }
}

/** A layer tar tried to write outside its target or otherwise cannot be applied safely. */
export class UnsafeLayerError extends BerthError {
  constructor(message: string) {
    super(message, 500);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function statusOf(err: unknown): number {
  return err instanceof BerthError ? err.status : 500;
}
