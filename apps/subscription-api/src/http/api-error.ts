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

  /**
   * A 422 naming every bad field. Its code is `invalid_<field>` (`invalid_url`, as the
   * contract's own example has it) when the details concern one top-level field, so that a
   * caller can act on the code alone; `validation_failed` when they concern several.
   */
  static validation(details: ErrorDetail[]): ApiError {
    const fields = [...new Set(details.map((d) => d.field))];
    const topLevel = new Set(fields.map((field) => field.split('.')[0]));
    const [only] = topLevel;
    const code =
      topLevel.size === 1 && only && /^[a-z][a-z0-9_]*$/.test(only)
        ? `invalid_${only}`
        : 'validation_failed';
    return new ApiError(422, code, `invalid request: ${fields.join(', ')}`, details);
  }

  static notFound(what: string): ApiError {
    return new ApiError(404, 'not_found', `${what} not found`);
  }
}
