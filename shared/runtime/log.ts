/** The logger the use cases take: structured, one JSON line per call in Lambda. */
export interface Logger {
  info(message: string, extra?: object): void;
  warn(message: string, extra?: object): void;
  error(message: string, extra?: object): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

/** JSON lines on stderr with persistent keys (request id, account, instance...). */
export function jsonLogger(
  keys: Record<string, unknown> = {},
): Logger & { append(extra: Record<string, unknown>): void } {
  const persistent = { ...keys };
  const write = (level: string, message: string, extra?: object) => {
    const line = JSON.stringify({
      level,
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
