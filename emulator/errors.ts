/** An error as an AWS service reports it: a code the SDK turns into the exception's `name`, and an HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = code;
  }
}

export const missing = (name: string) =>
  new ApiError('MissingParameter', `The request must contain the parameter ${name}`);

export const invalid = (message: string) => new ApiError('InvalidParameterValue', message);

export const notFound = (code: string, id: string, what: string) =>
  new ApiError(code, `The ${what} '${id}' does not exist`);
