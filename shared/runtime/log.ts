import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';

/** The logger the use cases take: structured, one JSON line per call in Lambda. */
export interface Logger {
  info(message: string, extra?: object): void;
  warn(message: string, extra?: object): void;
  error(message: string, extra?: object): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

export const LOG_LEVELS = ['info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A logger with keys that stay for the rest of the invocation (account, instance, finding...). */
export type RequestLogger = Logger & { append(extra: Record<string, unknown>): void };

/**
 * The function's Powertools logger, made once at cold start: JSON lines with `level` (INFO, WARN,
 * ERROR), `message`, `timestamp`, `service` (mirrorops), the `function` (its mirrorops name) and,
 * per invocation, the request id and the Lambda context's keys. Lambda keeps stdout and stderr
 * alike; info goes to stdout, warn and error to stderr (Node's console).
 */
export function functionLogger(name: string, level: LogLevel = 'info'): PowertoolsLogger {
  return new PowertoolsLogger({
    serviceName: 'mirrorops',
    logLevel:
      level === 'silent' ? 'SILENT' : level === 'warn' ? 'WARN' : level === 'error' ? 'ERROR' : 'INFO',
    persistentKeys: { function: name },
  });
}

/** The use cases' logger over a Powertools logger: extra fields become keys of the line. */
export function requestLogger(logger: PowertoolsLogger): RequestLogger {
  const attributes = (extra?: object) => ({ ...extra }) as Record<string, unknown>;
  return {
    info: (message, extra) => logger.info(message, attributes(extra)),
    warn: (message, extra) => logger.warn(message, attributes(extra)),
    error: (message, extra) => logger.error(message, attributes(extra)),
    append: (extra) => logger.appendKeys(extra),
  };
}

/**
 * The same logger with keys on each of its lines: for work of one invocation that runs alongside
 * other work (the intake's findings), where keys appended to the invocation would mix them up.
 */
export function withKeys(log: Logger, keys: Record<string, unknown>): Logger {
  return {
    info: (message, extra) => log.info(message, { ...keys, ...extra }),
    warn: (message, extra) => log.warn(message, { ...keys, ...extra }),
    error: (message, extra) => log.error(message, { ...keys, ...extra }),
  };
}
