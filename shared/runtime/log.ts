/** The logger the use cases take: structured, one JSON line per call in Lambda. */
export interface Logger {
  info(message: string, extra?: object): void;
  warn(message: string, extra?: object): void;
  error(message: string, extra?: object): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

export const LOG_LEVELS = ['info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** JSON lines on stderr with persistent keys (request id, account, instance...), from `level` up. */
export function jsonLogger(
  keys: Record<string, unknown> = {},
  level: LogLevel = 'info',
): Logger & { append(extra: Record<string, unknown>): void } {
  const persistent = { ...keys };
  const threshold = LOG_LEVELS.indexOf(level);
  const write = (lineLevel: LogLevel, message: string, extra?: object) => {
    if (LOG_LEVELS.indexOf(lineLevel) < threshold) return;
    const line = JSON.stringify({
      level: lineLevel,
      message,
      timestamp: new Date().toISOString(),
      ...persistent,
      ...extra,
    });
    // stderr: Lambda keeps both streams; locally stdout stays free for the result (mirrorops invoke).
    process.stderr.write(`${line}\n`);
  };
  return {
    info: (m, e) => write('info', m, e),
    warn: (m, e) => write('warn', m, e),
    error: (m, e) => write('error', m, e),
    append: (extra) => Object.assign(persistent, extra),
  };
}
