/**
 * The account this function runs in, read from its own ARN (the Lambda context's
 * `invokedFunctionArn`, `arn:aws:lambda:REGION:ACCOUNT:function:NAME`) at each invocation: the
 * hub's account without asking STS when the configuration does not name it.
 */
let account: string | undefined;

export function noteFunctionArn(arn: string | undefined): void {
  const id = arn?.split(':')[4];
  if (id && /^\d{12}$/.test(id)) account = id;
}

export const functionAccount = (): string | undefined => account;
