/**
 * An error an API caller can act on: an HTTP status, a stable code, a message that
 * names the problem, and optional details (one per bad field). Never carries a secret.
 */
export interface ErrorDetail {
  field: string;
  code: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }

  static validation(details: ErrorDetail[]): ApiError {
    const fields = [...new Set(details.map((d) => d.field))].join(', ');
    return new ApiError(422, 'validation_failed', `invalid request: ${fields}`, details);
  }

  static notFound(what: string): ApiError {
    return new ApiError(404, 'not_found', `${what} not found`);
  }
}
